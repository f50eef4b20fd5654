-- Shared by every scenario: read a value from the environment, and report the run as one JSON
-- line on stdout (bench/run.sh reads the line that starts with "BENCH ").
local M = {}

function M.env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    error("bench: environment variable " .. name .. " is not set")
  end
  return v
end

function M.lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

function M.done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout + e.status
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, errors, e.status,
    latency:percentile(50), latency:percentile(99)))
end

return M
