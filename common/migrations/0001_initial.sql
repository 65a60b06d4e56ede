-- 0001_initial: the first mcloud schema.
--
-- Timestamps are DATETIME(6) in UTC (every mcloud connection sets
-- time_zone = '+00:00'). Identifiers are ASCII and compared byte for byte.
-- JSON columns are MariaDB's JSON (LONGTEXT with a JSON_VALID check).

CREATE TABLE IF NOT EXISTS tenants (
  id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name VARCHAR(255) NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- An API key is shown once; only its SHA-256 is kept. key_prefix (the first
-- characters of the key) finds the row and is safe to show in listings.
CREATE TABLE IF NOT EXISTS api_keys (
  id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  tenant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  key_prefix VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  key_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'SHA-256 of the key, lowercase hex',
  scopes VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'space-separated scope names',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  revoked_at DATETIME(6) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY api_keys_hash (key_hash),
  KEY api_keys_prefix (key_prefix),
  KEY api_keys_tenant (tenant_id),
  CONSTRAINT api_keys_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS videos (
  id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  tenant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  title VARCHAR(512) NOT NULL DEFAULT '',
  status ENUM('uploading', 'uploaded', 'transcoding', 'ready', 'failed') NOT NULL DEFAULT 'uploading',
  failure_reason TEXT NULL,
  source_key VARCHAR(1024) NULL COMMENT 'object key of the uploaded source',
  size_bytes BIGINT UNSIGNED NULL,
  duration_ms BIGINT UNSIGNED NULL,
  container VARCHAR(64) NULL,
  video_codec VARCHAR(64) NULL,
  audio_codec VARCHAR(64) NULL,
  width INT UNSIGNED NULL,
  height INT UNSIGNED NULL,
  probe JSON NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY videos_tenant_created (tenant_id, created_at),
  KEY videos_status (status, updated_at),
  CONSTRAINT videos_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS renditions (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  video_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name VARCHAR(32) NOT NULL COMMENT 'ladder rung, e.g. 720p',
  kind ENUM('mp4', 'hls') NOT NULL,
  width INT UNSIGNED NOT NULL,
  height INT UNSIGNED NOT NULL,
  bitrate INT UNSIGNED NOT NULL COMMENT 'bits per second',
  codecs VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'RFC 6381, e.g. avc1.64001f,mp4a.40.2',
  object_key VARCHAR(1024) NOT NULL,
  size_bytes BIGINT UNSIGNED NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY renditions_video_name_kind (video_id, name, kind),
  CONSTRAINT renditions_video_fk FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS jobs (
  id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  video_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  attempt INT UNSIGNED NOT NULL DEFAULT 1,
  status ENUM('queued', 'running', 'done', 'failed') NOT NULL DEFAULT 'queued',
  preset VARCHAR(64) NOT NULL DEFAULT 'default',
  worker VARCHAR(255) NULL COMMENT 'instance running it',
  heartbeat_at DATETIME(6) NULL,
  progress DOUBLE NOT NULL DEFAULT 0 COMMENT '0 to 1',
  error TEXT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY jobs_video_attempt (video_id, attempt),
  KEY jobs_status_heartbeat (status, heartbeat_at),
  CONSTRAINT jobs_video_fk FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A tus upload. length_bytes is NULL while the client defers the length;
-- concat is the tus concatenation role, concat_parts lists the partial
-- uploads of a final one.
CREATE TABLE IF NOT EXISTS uploads (
  id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  tenant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  video_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  s3_upload_id VARCHAR(1024) NULL COMMENT 'S3 multipart upload id',
  offset_bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,
  length_bytes BIGINT UNSIGNED NULL,
  metadata JSON NULL,
  concat ENUM('none', 'partial', 'final') NOT NULL DEFAULT 'none',
  concat_parts JSON NULL,
  expires_at DATETIME(6) NULL,
  completed_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY uploads_expires (expires_at),
  KEY uploads_tenant_created (tenant_id, created_at),
  KEY uploads_video (video_id),
  CONSTRAINT uploads_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id),
  CONSTRAINT uploads_video_fk FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Transactional outbox: a row written in the same transaction as the state
-- change, published to Kafka afterwards and then stamped published_at.
CREATE TABLE IF NOT EXISTS outbox (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  topic VARCHAR(255) NOT NULL,
  msg_key VARCHAR(255) NULL,
  payload JSON NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  published_at DATETIME(6) NULL,
  PRIMARY KEY (id),
  KEY outbox_unpublished (published_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO tenants (id, name) VALUES ('local', 'Local tenant');
