-- 0004_reserved_api_branch: a placeholder on the api branch only, so that
-- 0005_api applies (versions must go up by one). Another branch owns 0004:
-- drop this file when merging.
SELECT 1;
