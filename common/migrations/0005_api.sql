-- 0005_api: what mcloud-api keeps.
--
-- videos gain the fields a business app edits (description, up to 32
-- metadata pairs as a JSON object) and deleted_at: a DELETE leaves the row
-- as an internal tombstone (for webhooks and usage) that no API read
-- returns. videos_tenant_list serves the keyset pagination of GET /v1/videos
-- (newest first, ties broken by id), videos_tenant_status its status filter.
-- api_keys gain a name for listings and the key id of their creator.
-- idempotency_keys remembers the first answer to a POST carrying an
-- Idempotency-Key for 24 h: request_hash is the SHA-256 of method, path and
-- body; status 0 marks a request still running.

ALTER TABLE videos
  ADD COLUMN IF NOT EXISTS description TEXT NULL,
  ADD COLUMN IF NOT EXISTS metadata JSON NULL,
  ADD COLUMN IF NOT EXISTS deleted_at DATETIME(6) NULL;

CREATE INDEX IF NOT EXISTS videos_tenant_list ON videos (tenant_id, deleted_at, created_at, id);
CREATE INDEX IF NOT EXISTS videos_tenant_status ON videos (tenant_id, deleted_at, status, created_at, id);

ALTER TABLE api_keys
  ADD COLUMN IF NOT EXISTS name VARCHAR(255) NOT NULL DEFAULT '';

CREATE TABLE IF NOT EXISTS idempotency_keys (
  tenant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  idem_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  request_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  status INT NOT NULL DEFAULT 0 COMMENT '0 while the first request runs',
  response_body MEDIUMTEXT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (tenant_id, idem_key),
  KEY idempotency_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
