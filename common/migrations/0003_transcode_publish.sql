-- 0003_transcode_publish: what mcloud-transcode records when it publishes.
--
-- videos.published_prefix is the attempt prefix (videos/<tenant>/<video>/
-- attempts/<job>-<n>/) whose outputs are the video's published set: it is set
-- in the same transaction that marks the video ready, so readers switch from
-- one set to another in one step. jobs.attempt numbers the runs of one job
-- (each run writes under its own prefix), so (video, attempt) is no longer
-- unique: a video re-transcoded by a second job starts again at 1.
-- jobs.handed_back counts the runs a stopping worker gave back unfinished;
-- they do not count against transcode.max_attempts.

ALTER TABLE videos
  ADD COLUMN IF NOT EXISTS published_prefix VARCHAR(1024) NULL COMMENT 'prefix of the published outputs';

CREATE INDEX IF NOT EXISTS jobs_video ON jobs (video_id);

ALTER TABLE jobs DROP INDEX IF EXISTS jobs_video_attempt;

ALTER TABLE jobs
  ADD COLUMN IF NOT EXISTS handed_back INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'runs given back at shutdown';
