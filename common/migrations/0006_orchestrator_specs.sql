-- 0004_orchestrator_specs (the lead gave this change number 0006; it is
-- 0004 here because mc_db_migrate refuses gaps): every version of the
-- platform's spec mcloud-orchestrator applied.
--
-- spec is the canonical YAML (orchestrator/spec.h mc_spec_format), diff the
-- human diff from the version before, applied_by the operator token's
-- tenant, reason what made it (deploy, scale, undo, revert). The latest row
-- is the desired state; a rollout undo or an automatic revert adds a new
-- row holding an older spec, so the history only grows.

CREATE TABLE IF NOT EXISTS orchestrator_specs (
  version BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  spec MEDIUMTEXT NOT NULL COMMENT 'canonical YAML',
  diff MEDIUMTEXT NOT NULL COMMENT 'from the previous version',
  applied_by VARCHAR(64) NOT NULL,
  reason VARCHAR(16) NOT NULL COMMENT 'deploy|scale|undo|revert',
  applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
