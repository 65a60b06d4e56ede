-- random_range.lua — wrk script of tests/bench/stream: every request asks for
-- one random range of CHUNK bytes of an object of SIZE bytes at the URL's
-- path, so the same script drives mcloud-stream and nginx alike.
--
--   wrk -t2 -c64 -d10s -s random_range.lua URL -- SIZE CHUNK [aligned|any]
--
-- aligned (default): offsets are multiples of CHUNK; any: any offset that
-- keeps the range inside the object. At the end one JSON line with the
-- figures (latencies in microseconds) goes to stdout for the driver.

local threads = {}
local size, chunk, aligned

function setup(thread)
   thread:set("id", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   size = tonumber(args[1])
   chunk = tonumber(args[2])
   aligned = args[3] ~= "any"
   math.randomseed(os.time() * 1000 + id)
end

function request()
   local first
   if aligned then
      first = math.random(0, math.floor(size / chunk) - 1) * chunk
   else
      first = math.random(0, size - chunk)
   end
   return wrk.format("GET", nil, {Range = "bytes=" .. first .. "-" .. (first + chunk - 1)})
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '{"requests": %d, "duration_us": %d, "bytes": %d, "socket_errors": %d, "non_2xx_3xx": %d, ' ..
      '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.timeout, e.status,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
