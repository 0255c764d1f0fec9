import { devDefaultFhirServers, fhirServerMatcher, isLoopbackUrl, logOrigin } from './fhir-allowlist';

describe('fhirServerMatcher (item 55: base URLs bound to an issuer)', () => {
  const allowed = fhirServerMatcher(['https://ehr.example/fhir', 'https://other.example:8443/r4/']);

  it.each([
    'https://ehr.example/fhir',
    'https://ehr.example/fhir/',
    'https://EHR.example/fhir',
    'https://ehr.example:443/fhir',
    'https://ehr.example/fhir/tenant-a',
    'https://other.example:8443/r4',
  ])('allows %s', (url) => expect(allowed(url)).toBe(true));

  it.each([
    'http://ehr.example/fhir', // scheme
    'https://ehr.example/fhirx', // sibling path
    'https://ehr.example/', // above the base
    'https://ehr.example/fhir/../admin', // dot segments resolve above the base
    'https://ehr.example/fhir/%2e%2e/admin', // encoded dot segments too
    'https://ehr.example:8443/fhir', // port
    'https://ehr.example.evil.test/fhir', // suffix host
    'https://evil.test/https://ehr.example/fhir',
    'https://user:pw@ehr.example/fhir', // user info
    'https://ehr.example@evil.test/fhir',
    'https://ehr.example/fhir?_format=json', // query
    'https://ehr.example/fhir#x', // fragment
    'https://other.example/r4', // default port instead of 8443
    'file:///etc/passwd',
    'not a url',
    '',
    `https://ehr.example/fhir/${'a'.repeat(3000)}`,
  ])('refuses %s', (url) => expect(allowed(url)).toBe(false));

  it('rejects configuration entries that are not plain base URLs', () => {
    expect(() => fhirServerMatcher(['https://u:p@ehr.example/fhir'])).toThrow(/not an absolute http\(s\) base URL/);
    expect(() => fhirServerMatcher(['ehr.example/fhir'])).toThrow();
    expect(fhirServerMatcher([])('https://ehr.example/fhir')).toBe(false);
  });
});

describe('development default', () => {
  it.each(['http://localhost:8081/fhir', 'http://127.0.0.1:1/x', 'https://127.1.2.3/fhir', 'http://[::1]:9000/fhir', 'http://0x7f.0.0.1:80/fhir', 'https://hapi.fhir.org/baseR4', 'https://hapi.fhir.org/baseR4/'])(
    'allows %s',
    (url) => expect(devDefaultFhirServers(url)).toBe(true),
  );
  it.each([
    'http://0.0.0.0:8080/fhir',
    'http://localhost.evil.test/fhir',
    'http://sub.localhost/fhir',
    'http://169.254.169.254/latest/meta-data',
    'http://10.0.0.1/fhir',
    'http://hapi.fhir.org/baseR4',
    'https://hapi.fhir.org/baseR5',
    'https://hapi.fhir.org/baseR4x',
  ])('refuses %s', (url) => expect(devDefaultFhirServers(url)).toBe(false));

  it('isLoopbackUrl and logOrigin', () => {
    expect(isLoopbackUrl('http://localhost/')).toBe(true);
    expect(isLoopbackUrl('http://127.0.0.1@evil.test/')).toBe(false);
    expect(logOrigin('https://ehr.example/fhir/Patient/123?token=abc')).toBe('https://ehr.example');
    expect(logOrigin('%%%')).toBe('(not a URL)');
  });
});
