-- bench_api.lua — wrk script of bench_api_wrk.py: every request carries the
-- bench tenant's API key (WRK_KEY) and walks the paths listed one a line in
-- the file WRK_PATHS; at the end one line "RESULT requests seconds p50_us
-- p99_us non2xx socket_errors" for the driver to parse.
local key = os.getenv("WRK_KEY")
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do
  if #line > 0 then paths[#paths + 1] = line end
end
local i = math.random(#paths)

request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["Authorization"] = "Bearer " .. key})
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.6f %d %d %d %d\n", summary.requests, summary.duration / 1e6,
                         latency:percentile(50), latency:percentile(99), e.status,
                         e.connect + e.read + e.write + e.timeout))
end
