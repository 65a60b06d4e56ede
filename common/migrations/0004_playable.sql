-- 0004_playable: a video plays while it transcodes (issue 14).
--
-- The transcoder publishes HLS as it goes under the attempt's prefix. Once
-- every rung has its first segment and the master playlist is out, it sets
-- playable = 1 and playable_prefix to that attempt's prefix, and raises
-- playable_seconds (what every rung's growing playlist covers) as segments
-- come. A retried attempt takes playable_prefix over when its own master is
-- out; a failed video is not playable. Ready videos are playable, from
-- published_prefix.

ALTER TABLE videos
  ADD COLUMN IF NOT EXISTS playable TINYINT(1) NOT NULL DEFAULT 0 COMMENT '1: HLS plays (growing while transcoding)',
  ADD COLUMN IF NOT EXISTS playable_prefix VARCHAR(1024) NULL COMMENT 'attempt prefix whose growing HLS plays while transcoding',
  ADD COLUMN IF NOT EXISTS playable_seconds DOUBLE NULL COMMENT 'seconds of media every rung has published';
