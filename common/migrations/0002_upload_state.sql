-- 0002_upload_state: what mcloud-upload needs to resume any upload from
-- MySQL alone (Redis is its cache): the upload's life-cycle status, the S3
-- object key, the part size chosen at creation, the next part number, the
-- bytes staged in the tail object, the last fencing token that committed,
-- and the largest length the creator's token allowed.

ALTER TABLE uploads
  ADD COLUMN IF NOT EXISTS status ENUM('active', 'completed', 'terminated', 'expired') NOT NULL DEFAULT 'active',
  ADD COLUMN IF NOT EXISTS s3_key VARCHAR(1024) NULL COMMENT 'object the multipart upload writes',
  ADD COLUMN IF NOT EXISTS part_size_bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS next_part INT UNSIGNED NOT NULL DEFAULT 1,
  ADD COLUMN IF NOT EXISTS tail_bytes BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'bytes in uploads/<id>/tail.<next_part>',
  ADD COLUMN IF NOT EXISTS fence BIGINT NOT NULL DEFAULT 0 COMMENT 'lock token of the last commit',
  ADD COLUMN IF NOT EXISTS max_bytes BIGINT UNSIGNED NOT NULL DEFAULT 0;

CREATE INDEX IF NOT EXISTS uploads_status_expires ON uploads (status, expires_at);
