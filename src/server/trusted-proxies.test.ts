import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientAddress, createTrustedProxies } from './trusted-proxies.js';

test('addresses and CIDR blocks, IPv4 and IPv6', () => {
  const t = createTrustedProxies(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1']);
  assert.equal(t.isTrusted('10.1.2.3'), true);
  assert.equal(t.isTrusted('11.1.2.3'), false);
  assert.equal(t.isTrusted('192.168.1.7'), true);
  assert.equal(t.isTrusted('192.168.1.8'), false);
  assert.equal(t.isTrusted('fd12::5'), true);
  assert.equal(t.isTrusted('fe80::1'), false);
  assert.equal(t.isTrusted('::1'), true);
  assert.equal(t.isTrusted(undefined), false);
});

test('IPv4-mapped IPv6 peers are checked as IPv4', () => {
  const t = createTrustedProxies(['127.0.0.1']);
  assert.equal(t.isTrusted('::ffff:127.0.0.1'), true);
  assert.equal(t.isTrusted('::ffff:127.0.0.2'), false);
});

test('an empty list trusts nobody', () => {
  const t = createTrustedProxies([]);
  assert.equal(t.isEmpty, true);
  assert.equal(t.isTrusted('127.0.0.1'), false);
});

test('entries that are not addresses are refused', () => {
  assert.throws(() => createTrustedProxies(['localhost']), /not an IP/);
  assert.throws(() => createTrustedProxies(['10.0.0.0/33']), /prefix length/);
  assert.throws(() => createTrustedProxies(['10.0.0.0/']), /prefix length/);
  assert.throws(() => createTrustedProxies(['10.0.0.0/x']), /prefix length/);
});

test('clientAddress: the peer unless it is a trusted proxy; then the right-most forwarded hop that is not one', () => {
  const trusted = createTrustedProxies(['10.0.0.0/8', '2001:db8::1']);
  assert.equal(clientAddress(trusted, '203.0.113.9', '198.51.100.1'), '203.0.113.9', 'an untrusted peer cannot claim another address');
  assert.equal(clientAddress(trusted, '10.0.0.2', undefined), '10.0.0.2');
  assert.equal(clientAddress(trusted, '10.0.0.2', '198.51.100.1'), '198.51.100.1');
  assert.equal(clientAddress(trusted, '10.0.0.2', 'forged-by-client, 198.51.100.1, 10.0.0.7'), '198.51.100.1', 'trusted hops are skipped, forged ones never reached');
  assert.equal(clientAddress(trusted, '::ffff:10.0.0.2', ['198.51.100.1', '10.1.1.1']), '198.51.100.1', 'several header lines, mapped peer');
  assert.equal(clientAddress(trusted, '2001:db8::1', '10.0.0.3, 10.0.0.4'), '10.0.0.3', 'only trusted hops: the left-most');
  assert.equal(clientAddress(trusted, '10.0.0.2', ' , 198.51.100.1'), '198.51.100.1');
  assert.equal(clientAddress(trusted, '10.0.0.2', ''), '10.0.0.2', 'an empty header');
  assert.equal(clientAddress(createTrustedProxies([]), '10.0.0.2', '198.51.100.1'), '10.0.0.2', 'nobody trusted');
});

test('clientAddress: a hop written with a port is its address; a hop that is no address leaves the last trusted one', () => {
  const trusted = createTrustedProxies(['10.0.0.0/8']);
  assert.equal(clientAddress(trusted, '10.0.0.2', '203.0.113.7:50001'), '203.0.113.7');
  assert.equal(clientAddress(trusted, '10.0.0.2', '[2001:db8::7]:50003'), '2001:db8::7');
  assert.equal(clientAddress(trusted, '10.0.0.2', '[2001:db8::7]'), '2001:db8::7');
  assert.equal(clientAddress(trusted, '10.0.0.2', '198.51.100.1, 10.0.0.7:443'), '198.51.100.1', 'a trusted hop with a port is still trusted');
  assert.equal(clientAddress(trusted, '10.0.0.2', 'not-an-ip-at-all-1'), '10.0.0.2');
  assert.equal(clientAddress(trusted, '10.0.0.2', '198.51.100.1, 10.0.0.7, garbage'), '10.0.0.2');
  assert.equal(clientAddress(trusted, '10.0.0.2', '999.1.1.1:80'), '10.0.0.2');
});
