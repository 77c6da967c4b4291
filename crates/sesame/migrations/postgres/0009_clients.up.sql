-- Registered OAuth / OpenID Connect clients (issue 14). The id is the public `client_id`; a
-- confidential client's secret is kept only as its SHA-256 (the secret is 256 random bits).
-- Lists are JSON arrays (URIs) or space-delimited words (grants, scopes), as the protocol writes
-- them.
CREATE TABLE oauth_clients (
    id                        UUID PRIMARY KEY,
    name                      TEXT NOT NULL,
    kind                      TEXT NOT NULL CHECK (kind IN ('confidential', 'public')),
    secret_hash               BYTEA,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    grants                    TEXT NOT NULL,
    scopes                    TEXT NOT NULL,
    first_party               BOOLEAN NOT NULL,
    access_token_ttl_secs     BIGINT,
    refresh_token_ttl_secs    BIGINT,
    id_token_alg              TEXT NOT NULL CHECK (id_token_alg IN ('RS256', 'EdDSA')),
    created_at                TIMESTAMPTZ NOT NULL,
    updated_at                TIMESTAMPTZ NOT NULL,
    CHECK ((kind = 'confidential') = (secret_hash IS NOT NULL))
);
