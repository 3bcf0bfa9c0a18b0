-- wrk script: every request carries the bearer token from $KOS_BENCH_TOKEN.
--   KOS_BENCH_TOKEN=... wrk -s auth.lua http://127.0.0.1:8000/api/v1/users/me/profile
local token = os.getenv("KOS_BENCH_TOKEN")
if token == nil or token == "" then
  io.stderr:write("auth.lua: KOS_BENCH_TOKEN is not set\n")
  os.exit(2)
end
wrk.headers["Authorization"] = "Bearer " .. token

-- Count responses by status so that a run full of 401/429s is noticed
-- (wrk itself only reports "Non-2xx or 3xx responses").
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  statuses = {}
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do all[code] = (all[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(all) do table.insert(parts, code .. "=" .. n) end
  table.sort(parts)
  io.write("statuses: " .. table.concat(parts, " ") .. "\n")
end
