-- 0007_webhooks: mcloud-api's webhooks (api/webhooks.c, api/webhook_run.c).
--
-- webhook_endpoints: a tenant's receivers. secret is the whsec_ signing
-- secret (needed in clear to sign; shown to the client only when made or
-- rotated); events the space-separated filter (empty: every type);
-- failures the run of failed attempts since the last success (the endpoint
-- is disabled when it reaches webhooks.disable_after_failures).
-- webhook_events: one row per video event, its id derived from its source
-- (job id or video id plus type), so a redelivered Kafka message or a
-- retried DELETE inserts nothing twice. webhook_deliveries: one row per
-- event and endpoint that wanted it, made in the same statement as the
-- event's fan-out; the durable queue the sender works from. seq orders a
-- video's deliveries to one endpoint; next_attempt_at is also the claim
-- (pushed forward while a sender works on the row).

CREATE TABLE IF NOT EXISTS webhook_endpoints (
  id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  tenant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  url VARCHAR(2048) NOT NULL,
  description VARCHAR(512) NOT NULL DEFAULT '',
  events VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
  secret VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  enabled TINYINT NOT NULL DEFAULT 1,
  disabled_reason VARCHAR(255) NULL,
  failures INT NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  deleted_at DATETIME(6) NULL,
  PRIMARY KEY (id),
  KEY webhook_endpoints_tenant (tenant_id, deleted_at, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS webhook_events (
  id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  tenant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  video_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  type VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  payload MEDIUMTEXT NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY webhook_events_tenant (tenant_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS webhook_deliveries (
  seq BIGINT NOT NULL AUTO_INCREMENT,
  id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  endpoint_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  event_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  tenant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  video_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  status ENUM('pending', 'delivered', 'failed') NOT NULL DEFAULT 'pending',
  attempts INT NOT NULL DEFAULT 0,
  response_code INT NULL,
  response_ms INT NULL,
  last_error VARCHAR(512) NULL,
  last_attempt_at DATETIME(6) NULL,
  next_attempt_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (seq),
  UNIQUE KEY webhook_deliveries_id (id),
  UNIQUE KEY webhook_deliveries_once (endpoint_id, event_id),
  KEY webhook_deliveries_due (status, next_attempt_at),
  KEY webhook_deliveries_order (endpoint_id, video_id, status, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
