"""The seed's serving stack, rebuilt for the benchmark: Flask + gunicorn + a
scikit-learn RandomForest of the seed's size (50 trees, min_samples_split=10,
random_state=1) on the seed's features (continent codes, FIFA ranks and
points, year, alphabetical team codes), trained on year < 2022.

It answers the same JSON route as datalab serve:
POST /api/v1/matches/predict {"home": "...", "away": "...", "neutral": true}
→ {"outcome", "winner", "probability", "probabilities", "model_version"}.

Like the seed it predicts home win vs not; unlike the seed it writes no log
(the comparison is the best case for Flask). Run with gunicorn --preload so
the forest is trained once, before the workers fork.

Environment: MATCHES_CSV = path of international_matches.csv.
"""
import os

import numpy as np
import pandas as pd
from flask import Flask, jsonify, request
from sklearn.ensemble import RandomForestClassifier

df = pd.read_csv(os.environ["MATCHES_CSV"], parse_dates=["date"])
df["year"] = df["date"].dt.year
df["target"] = (df["home_team_result"] == "Win").astype(int)

teams = sorted(set(df["home_team"]) | set(df["away_team"]))
team_code = {t: i for i, t in enumerate(teams)}
continents = sorted(set(df["home_team_continent"]) | set(df["away_team_continent"]))
cont_code = {c: i for i, c in enumerate(continents)}

FEATURES = ["home_cont", "away_cont", "home_team_fifa_rank", "away_team_fifa_rank",
            "home_team_total_fifa_points", "away_team_total_fifa_points", "year", "home_code", "away_code"]
df["home_cont"] = df["home_team_continent"].map(cont_code)
df["away_cont"] = df["away_team_continent"].map(cont_code)
df["home_code"] = df["home_team"].map(team_code)
df["away_code"] = df["away_team"].map(team_code)

train = df[df["year"] < 2022]
model = RandomForestClassifier(n_estimators=50, min_samples_split=10, random_state=1)
model.fit(train[FEATURES].values, train["target"].values)
model.n_jobs = 1  # one request, one core: gunicorn's workers are the parallelism

# The seed's lookup table: each team's latest continent, rank and points.
home = df[["date", "home_team", "home_team_continent", "home_team_fifa_rank", "home_team_total_fifa_points"]]
home.columns = ["date", "team", "continent", "rank", "points"]
away = df[["date", "away_team", "away_team_continent", "away_team_fifa_rank", "away_team_total_fifa_points"]]
away.columns = home.columns
latest = pd.concat([home, away]).sort_values("date").groupby("team").last()
lookup = {t: (cont_code[r.continent], r["rank"], r.points) for t, r in latest.iterrows()}
YEAR = int(df["year"].max())

app = Flask(__name__)


@app.post("/api/v1/matches/predict")
def predict():
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return jsonify(error="malformed JSON"), 400
    h, a = body.get("home"), body.get("away")
    if h not in lookup or a not in lookup:
        return jsonify(error="unknown team"), 400
    if h == a:
        return jsonify(error="a team cannot play itself"), 422
    hc, hr, hp = lookup[h]
    ac, ar, ap = lookup[a]
    x = np.array([[hc, ac, hr, ar, hp, ap, YEAR, team_code[h], team_code[a]]], dtype=float)
    p = model.predict_proba(x)[0]
    win = float(p[1])
    outcome = "home_win" if win >= 0.5 else "not_home_win"
    return jsonify(home=h, away=a, outcome=outcome, winner=h if win >= 0.5 else "",
                   probability=max(win, 1 - win),
                   probabilities={"home_win": win, "not_home_win": 1 - win},
                   model_version="sklearn-rf50")


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")
