-- wrk script: POST add-message spread over the chats in $CHATS (comma-separated ids).
-- Set $TOKEN to a bearer token. Used by scripts/bench/add-message.sh.
local token = os.getenv("TOKEN")
local chats = {}
for id in string.gmatch(os.getenv("CHATS"), "[^,]+") do chats[#chats + 1] = id end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

request = function()
  local chat = chats[math.random(#chats)]
  local body = '{"chat_id":"' .. chat .. '","question":"How does branching work?","response":"Each branch records which prefix of its parent it inherits."}'
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
