-- refresh_token grant with rotation: every request spends a fresh refresh token. Each wrk
-- thread takes its share of the pre-minted tokens in BENCH_TOKENS (one per line) and keeps a
-- queue: a response's new refresh_token goes back into the queue for a later request. With at
-- least as many tokens as connections the queue never runs dry (wrk handles a connection's
-- response before writing its next request).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local c = require("common")

local threads = {}
local all = c.lines(c.env("BENCH_TOKENS"))
local next_thread = 0

function setup(thread)
  thread:set("id", next_thread)
  next_thread = next_thread + 1
  threads[#threads + 1] = thread
end

local queue, head, tail
local path, auth, dry = nil, nil, 0

function init(args)
  local n = tonumber(os.getenv("BENCH_THREADS"))
  queue, head, tail = {}, 1, 0
  for i = 1, #all do
    if (i - 1) % n == id then
      tail = tail + 1
      queue[tail] = all[i]
    end
  end
  path = c.env("BENCH_PATH")
  auth = c.env("BENCH_AUTH")
end

function request()
  local token
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  else
    dry = dry + 1
    token = "dry"
  end
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = auth,
  }, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local rt = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if rt then
    tail = tail + 1
    queue[tail] = rt
  end
end

done = c.done
