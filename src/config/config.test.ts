import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './index.ts';

describe('loadConfig', () => {
  it('applies defaults: port 3000, issuer on localhost, ES256, 300 s tokens', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(3000);
    expect(c.issuer).toBe('http://localhost:3000');
    expect(c.apiAudience).toBe('http://localhost:3000/api');
    expect(c.TESSERA_SIGNING_ALG).toBe('ES256');
    expect(c.TESSERA_ACCESS_TOKEN_TTL).toBe(300);
    expect(c.DATABASE_URL).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('derives the issuer from PORT and honours TESSERA_ISSUER', () => {
    expect(loadConfig({ PORT: '8080' }).issuer).toBe('http://localhost:8080');
    expect(loadConfig({ TESSERA_ISSUER: 'https://id.example.com' }).apiAudience).toBe('https://id.example.com/api');
  });

  it('fails fast and names every bad variable', () => {
    expect(() => loadConfig({ PORT: 'eighty', TESSERA_SIGNING_ALG: 'HS256', TESSERA_BOOTSTRAP_OWNER_PASSWORD: 'short' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: 'eighty', TESSERA_SIGNING_ALG: 'HS256', TESSERA_BOOTSTRAP_TENANT: 'Not A Slug' });
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toContain('PORT');
      expect(msg).toContain('TESSERA_SIGNING_ALG');
      expect(msg).toContain('TESSERA_BOOTSTRAP_TENANT');
    }
    expect(() => loadConfig({ TESSERA_ISSUER: 'https://id.example.com/' })).toThrow(/TESSERA_ISSUER/);
  });
});
