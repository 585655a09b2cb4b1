-- wrk script: POST the 32×31 World Cup 2022 pairings to the predict route in turn.
local teams = {"Argentina", "Australia", "Belgium", "Brazil", "Cameroon", "Canada", "Costa Rica", "Croatia",
  "Denmark", "Ecuador", "England", "France", "Germany", "Ghana", "IR Iran", "Japan", "Korea Republic", "Mexico",
  "Morocco", "Netherlands", "Poland", "Portugal", "Qatar", "Saudi Arabia", "Senegal", "Serbia", "Spain",
  "Switzerland", "Tunisia", "USA", "Uruguay", "Wales"}
local bodies = {}
for _, h in ipairs(teams) do
  for _, a in ipairs(teams) do
    if h ~= a then
      bodies[#bodies + 1] = string.format('{"home":"%s","away":"%s","neutral":true}', h, a)
    end
  end
end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
