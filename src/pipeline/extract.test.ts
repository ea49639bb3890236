import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { GatehouseError } from '../errors.js';
import { checkBearerSyntax, extractCredential, UNRECOGNIZED_CREDENTIAL } from './extract.js';

const req = (...rawHeaders: string[]) => ({ rawHeaders }) as unknown as IncomingMessage;

function badRequest(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof GatehouseError && e.code === 'GH_BAD_CREDENTIAL_REQUEST' && e.bearerError === 'invalid_request');
}

test('Bearer, scheme in any case', () => {
  assert.deepEqual(extractCredential(req('Authorization', 'Bearer abc.def-_~+/='), ''), { bearer: 'abc.def-_~+/=' });
  assert.deepEqual(extractCredential(req('authorization', 'bEaReR xyz'), ''), { bearer: 'xyz' });
});

test('no header: no credential', () => {
  assert.equal(extractCredential(req('Host', 'a'), ''), undefined);
});

test('another scheme is a credential nobody reads here', () => {
  assert.equal(extractCredential(req('Authorization', 'Basic dXNlcjpwdw=='), ''), UNRECOGNIZED_CREDENTIAL);
  assert.equal(extractCredential(req('Authorization', 'Bearerx abc'), ''), UNRECOGNIZED_CREDENTIAL);
});

test('malformed Bearer values: empty ones at extraction, the rest by the syntax check', () => {
  for (const v of ['Bearer', 'Bearer ']) badRequest(() => extractCredential(req('Authorization', v), ''));
  for (const v of ['Bearer  abc', 'Bearer a b', 'Bearer a=b', 'Bearer ab"c', 'Bearer a,b']) {
    badRequest(() => checkBearerSyntax(extractCredential(req('Authorization', v), '')));
  }
  checkBearerSyntax(extractCredential(req('Authorization', 'Bearer abc.def-_~+/='), ''));
  checkBearerSyntax(UNRECOGNIZED_CREDENTIAL);
  checkBearerSyntax(undefined);
});

test('several Authorization headers', () => {
  badRequest(() => extractCredential(req('Authorization', 'Bearer a', 'AUTHORIZATION', 'Bearer b'), ''));
});

test('tokens in the query string', () => {
  badRequest(() => extractCredential(req(), '?access_token=abc'));
  badRequest(() => extractCredential(req(), '?a=1&ACCESS_TOKEN=abc'));
  badRequest(() => extractCredential(req(), '?access%5Ftoken=abc'));
  assert.equal(extractCredential(req(), '?my_access_token_count=1'), undefined);
  // Percent-encoded letters: an upstream decodes these names to access_token.
  badRequest(() => extractCredential(req(), '?%61ccess_token=abc'));
  badRequest(() => extractCredential(req(), '?a=%41&access_t%6Fken=abc'));
  badRequest(() => extractCredential(req(), '?x=1;%61%63%63%65%73%73%5f%74%6f%6b%65%6e'));
  assert.equal(extractCredential(req(), '?%61ccess_tokens=1&bad=%E0%A4%A'), undefined);
  // Names PHP folds into access_token: `.`, a space and an unmatched `[` read as `_`, a final `[]` dropped.
  for (const q of ['?access.token=a', '?access+token=a', '?access%20token=a', '?access[token=a', '?access%5Btoken=a', '?access_token[]=a', '?access_token%5B%5D=a', '?%61ccess+token=a', '?x=1&ACCESS.TOKEN=a']) {
    badRequest(() => extractCredential(req(), q));
  }
  // PHP also drops leading spaces and cuts a name at NUL.
  for (const q of ['?%20access_token=a', '?+access_token=a', '?%20%20access.token=a', '?access_token%00=a', '?access_token%00%FF=a']) {
    badRequest(() => extractCredential(req(), q));
  }
  assert.equal(extractCredential(req(), '?access-token=a&accesstoken=b&access..token=c'), undefined);
});
