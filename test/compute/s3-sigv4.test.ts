// @pglite-only: signing is pure computation; no store, no database.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { EMPTY_PAYLOAD_SHA256, encodeRfc3986, formatAmzDate, signV4 } from '../../src/compute/s3-sigv4.js';

/**
 * The published vectors: AWS's SigV4 test suite ("get-vanilla", "get-vanilla-query-order-key-case")
 * and the worked examples of the Amazon S3 API reference, "Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk". Their credentials are AWS's
 * documentation examples, not real keys.
 */
const SUITE = {
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  scope: { region: 'us-east-1', service: 'service' },
  date: new Date('2015-08-30T12:36:00Z'),
};
const S3_DOCS = {
  credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  scope: { region: 'us-east-1', service: 's3' },
  date: new Date('2013-05-24T00:00:00Z'),
};

describe('signV4', () => {
  it('test suite "get-vanilla": GET / with only host and x-amz-date signed', () => {
    const signed = signV4({ method: 'GET', url: new URL('https://example.amazonaws.com/'), headers: {}, payloadSha256: EMPTY_PAYLOAD_SHA256 }, SUITE.credentials, SUITE.scope, SUITE.date);
    assert.equal(signed.canonicalRequest, ['GET', '/', '', 'host:example.amazonaws.com', 'x-amz-date:20150830T123600Z', '', 'host;x-amz-date', EMPTY_PAYLOAD_SHA256].join('\n'));
    assert.equal(signed.stringToSign, ['AWS4-HMAC-SHA256', '20150830T123600Z', '20150830/us-east-1/service/aws4_request', 'bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63'].join('\n'));
    assert.deepEqual(signed.headers, {
      'x-amz-date': '20150830T123600Z',
      authorization: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    });
  });

  it('test suite "get-vanilla-query-order-key-case": the query is sorted before signing', () => {
    const signed = signV4({ method: 'GET', url: new URL('https://example.amazonaws.com/?Param2=value2&Param1=value1'), headers: {}, payloadSha256: EMPTY_PAYLOAD_SHA256 }, SUITE.credentials, SUITE.scope, SUITE.date);
    assert.equal(signed.signature, 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500');
  });

  it('S3 docs "GET Object": a range header signed with the empty payload hash', () => {
    const signed = signV4(
      { method: 'GET', url: new URL('https://examplebucket.s3.amazonaws.com/test.txt'), headers: { Range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY_PAYLOAD_SHA256 }, payloadSha256: EMPTY_PAYLOAD_SHA256 },
      S3_DOCS.credentials,
      S3_DOCS.scope,
      S3_DOCS.date,
    );
    assert.equal(createHash('sha256').update(signed.canonicalRequest).digest('hex'), '7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972');
    assert.equal(signed.signature, 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
    assert.equal(signed.headers['authorization'], 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
    assert.equal(signed.headers['range'], 'bytes=0-9', 'the headers to send keep the caller\'s, lower-cased');
  });

  it('S3 docs "PUT Object": a signed payload and a key with "$", written either way', () => {
    const body = 'Welcome to Amazon S3.';
    const payloadSha256 = createHash('sha256').update(body).digest('hex');
    assert.equal(payloadSha256, '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072');
    for (const path of ['/test$file.text', '/test%24file.text']) {
      const signed = signV4(
        {
          method: 'PUT',
          url: new URL(`https://examplebucket.s3.amazonaws.com${path}`),
          headers: { Date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-storage-class': 'REDUCED_REDUNDANCY', 'x-amz-content-sha256': payloadSha256 },
          payloadSha256,
        },
        S3_DOCS.credentials,
        S3_DOCS.scope,
        S3_DOCS.date,
      );
      assert.equal(signed.signature, '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd', path);
    }
  });

  it('S3 docs "GET Bucket (List Objects)": query parameters signed', () => {
    const signed = signV4(
      { method: 'GET', url: new URL('https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J'), headers: { 'x-amz-content-sha256': EMPTY_PAYLOAD_SHA256 }, payloadSha256: EMPTY_PAYLOAD_SHA256 },
      S3_DOCS.credentials,
      S3_DOCS.scope,
      S3_DOCS.date,
    );
    assert.equal(signed.signature, '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
  });

  it('a different secret, day or region gives a different signature', () => {
    const request = { method: 'GET', url: new URL('https://example.amazonaws.com/'), headers: {}, payloadSha256: EMPTY_PAYLOAD_SHA256 };
    const good = signV4(request, SUITE.credentials, SUITE.scope, SUITE.date).signature;
    assert.notEqual(signV4(request, { ...SUITE.credentials, secretAccessKey: 'wrong' }, SUITE.scope, SUITE.date).signature, good);
    assert.notEqual(signV4(request, SUITE.credentials, { ...SUITE.scope, region: 'eu-west-1' }, SUITE.date).signature, good);
    assert.notEqual(signV4(request, SUITE.credentials, SUITE.scope, new Date('2015-08-31T12:36:00Z')).signature, good);
  });

  it('encodes as RFC 3986 and formats the date as SigV4 wants', () => {
    assert.equal(encodeRfc3986("a b!'()*~-._/ü"), 'a%20b%21%27%28%29%2A~-._%2F%C3%BC');
    assert.equal(formatAmzDate(new Date('2024-02-29T23:59:59.999Z')), '20240229T235959Z');
  });
});
