import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRouter, hostnameOf } from './router.js';

interface R {
  path: string;
  host: string | undefined;
  id: string;
}

const r = (id: string, path: string, host?: string): R => ({ id, path, host });

test('prefixes match on segment boundaries and the longest wins', () => {
  const router = createRouter([r('root', '/'), r('api', '/api'), r('orders', '/api/orders'), r('one', '/api/orders/special')]);
  const m = (p: string) => router.match('x.test', p)?.id;
  assert.equal(m('/api/orders'), 'orders');
  assert.equal(m('/api/orders/1'), 'orders');
  assert.equal(m('/api/orders/'), 'orders');
  assert.equal(m('/api/ordersX'), 'api');
  assert.equal(m('/api/orders/special/x'), 'one');
  assert.equal(m('/api'), 'api');
  assert.equal(m('/apix'), 'root');
  assert.equal(m('/'), 'root');
});

test('a dot right after a prefix is a boundary too: a format suffix reaches the route it names, not a shorter one', () => {
  const router = createRouter([r('api', '/api'), r('orders', '/api/orders'), r('v12', '/api/v1.2')]);
  const m = (p: string) => router.match(undefined, p)?.id;
  assert.equal(m('/api/orders.json'), 'orders');
  assert.equal(m('/api/orders.xml'), 'orders');
  assert.equal(m('/api/orders.'), 'orders');
  assert.equal(m('/api/orders..'), 'orders');
  assert.equal(m('/API/Orders.JSON'), 'orders');
  assert.equal(m('/api/orders/1.json'), 'orders');
  assert.equal(m('/api/ordersX.json'), 'api');
  assert.equal(m('/api.json'), 'api');
  // The longest prefix still wins where a route's own path holds the dot.
  assert.equal(m('/api/v1.2/x'), 'v12');
  assert.equal(m('/api/v1.2.json'), 'v12');
  assert.equal(m('/api/v1'), 'api');
});

test('without a catch-all route, unmatched paths find nothing', () => {
  const router = createRouter([r('orders', '/api/orders')]);
  assert.equal(router.match(undefined, '/api/ordersX'), undefined);
  assert.equal(router.match(undefined, '/API/orders')?.id, 'orders', 'ASCII case is ignored');
  assert.equal(router.match(undefined, '/Api/Orders/7')?.id, 'orders');
  assert.equal(router.match(undefined, '/API/ordersX'), undefined);
  assert.equal(router.match(undefined, '/api'), undefined);
});

test('a trailing slash in the configured path is ignored', () => {
  const router = createRouter([r('orders', '/api/orders/')]);
  assert.equal(router.match(undefined, '/api/orders')?.id, 'orders');
  assert.equal(router.match(undefined, '/api/orders/7')?.id, 'orders');
  assert.equal(router.match(undefined, '/api/ordersX'), undefined);
});

test('host: exact beats wildcard beats none; wildcard needs a subdomain', () => {
  const router = createRouter([r('any', '/x'), r('wild', '/x', '*.example.com'), r('exact', '/x', 'api.example.com')]);
  assert.equal(router.match('api.example.com', '/x')?.id, 'exact');
  assert.equal(router.match('API.Example.com:8443', '/x')?.id, 'exact');
  assert.equal(router.match('other.example.com', '/x')?.id, 'wild');
  assert.equal(router.match('a.b.example.com', '/x')?.id, 'wild');
  assert.equal(router.match('example.com', '/x')?.id, 'any');
  assert.equal(router.match('evilexample.com', '/x')?.id, 'any');
  assert.equal(router.match(undefined, '/x')?.id, 'any');
});

test('a longer path without host beats a shorter one with a matching host', () => {
  const router = createRouter([r('hosted', '/api', 'a.test'), r('deep', '/api/orders')]);
  assert.equal(router.match('a.test', '/api/orders/1')?.id, 'deep');
  assert.equal(router.match('a.test', '/api/users')?.id, 'hosted');
  assert.equal(router.match('b.test', '/api/users'), undefined);
});

test('hostnameOf strips ports and lower-cases, keeping IPv6 literals', () => {
  assert.equal(hostnameOf('Example.COM:80'), 'example.com');
  assert.equal(hostnameOf('[::1]:8080'), '[::1]');
  assert.equal(hostnameOf('127.0.0.1'), '127.0.0.1');
  assert.equal(hostnameOf('Example.com.:443'), 'example.com');
  assert.equal(hostnameOf('example.com.'), 'example.com');
});

test('a fully qualified Host (final dot) matches the route of its host, and a route written with one matches without', () => {
  const router = createRouter([r('public', '/'), r('admin', '/', 'admin.example.com'), r('wild', '/', '*.fq.test.')]);
  assert.equal(router.match('admin.example.com.', '/x')?.id, 'admin');
  assert.equal(router.match('ADMIN.example.com.:8443', '/x')?.id, 'admin');
  assert.equal(router.match('a.fq.test', '/x')?.id, 'wild');
  assert.equal(router.match('admin.example.com..', '/x')?.id, 'public', 'only one final dot is a spelling of the name');
});
