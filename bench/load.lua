-- wrk script of bench/load: one request kind per wrk run, configured by the environment, and one
-- JSON line of results at the end (requests, HTTP status counts, socket errors, latency
-- percentiles in microseconds), which bench/load parses.
--   LOAD_METHOD (GET), LOAD_BODY (empty), LOAD_TOKEN (the staff token),
--   LOAD_DELAY_MS (0): pause of each connection between requests, to hold a rate.
wrk.method = os.getenv("LOAD_METHOD") or "GET"
local body = os.getenv("LOAD_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
wrk.headers["Authorization"] = "Token " .. (os.getenv("LOAD_TOKEN") or "")
local pause = tonumber(os.getenv("LOAD_DELAY_MS") or "0")

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

if pause > 0 then
  function delay()
    return pause
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do
      counts[code] = (counts[code] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', code, n))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "statuses": {%s}, ' ..
    '"socket_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d}\n',
    summary.requests, summary.duration, table.concat(parts, ", "),
    e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
