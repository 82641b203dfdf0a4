-- Every change to an API token's validity (revocation, expiry, role, tenant, deletion) is announced on
-- the "doppel_api_token_changed" channel with the token's id, after the change commits. The servers'
-- token caches (src/auth/token-cache.ts) listen, so a token revoked outside a server's API (the CLI, a
-- manual UPDATE) is refused at once by every instance, with or without Redis. `lastUsedAt` is left out:
-- it changes once a minute per token in use and says nothing about validity.
CREATE FUNCTION "doppel_api_token_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('doppel_api_token_changed', OLD.id::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER "ApiToken_changed"
  AFTER UPDATE OF "revokedAt", "expiresAt", "role", "tenantId", "tokenHash" OR DELETE ON "ApiToken"
  FOR EACH ROW EXECUTE FUNCTION "doppel_api_token_changed"();
