-- A fixed form POST: BENCH_PATH, BENCH_BODY, optional BENCH_AUTH (Authorization header) and
-- BENCH_COOKIE. Used for client_credentials, introspection and password sign-in.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local c = require("common")

wrk.method = "POST"
wrk.path = c.env("BENCH_PATH")
wrk.body = c.env("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then wrk.headers["Cookie"] = cookie end

done = c.done
