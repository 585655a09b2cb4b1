// Package matchwinner holds the domain types of the World Cup match-winner
// use case, shared by the model side (features, training, the predictor that
// loads a trained model) and the serving side (web app, prediction log,
// dashboard). It has no logic and no dependencies, so both sides can import
// it without importing each other.
package matchwinner

import (
	"context"
	"errors"
	"time"
)

// Outcome is a match result from the home team's point of view.
type Outcome string

// The three outcomes. Binary model variants (home win vs not) predict only
// HomeWin and NotHomeWin.
const (
	HomeWin    Outcome = "home_win"
	Draw       Outcome = "draw"
	AwayWin    Outcome = "away_win"
	NotHomeWin Outcome = "not_home_win"
)

// Request asks who wins Home vs Away.
type Request struct {
	Home string `json:"home"`
	Away string `json:"away"`
	// Neutral is true when neither team plays at home (most World Cup games).
	Neutral bool `json:"neutral"`
	// AsOf is the date whose team form and ranking the features use; zero
	// means the model's default (the latest date in its data).
	AsOf time.Time `json:"as_of,omitzero"`
}

// Prediction is a model's answer to a Request.
type Prediction struct {
	// Outcome is the predicted outcome: the most probable one, unless the
	// model's decision rule calls a close match a draw (a three-way model
	// with a draw margin, docs/matches.md).
	Outcome Outcome `json:"outcome"`
	// Winner is the predicted winning team, "" for a draw or NotHomeWin.
	Winner string `json:"winner,omitempty"`
	// Probability is the probability of Outcome.
	Probability float64 `json:"probability"`
	// Probabilities has one entry per outcome the model predicts.
	Probabilities map[Outcome]float64 `json:"probabilities"`
	// Features are the model inputs used, by name (logged with the prediction).
	Features map[string]float64 `json:"features,omitempty"`
	// ModelVersion identifies the trained model (content hash of its files).
	ModelVersion string `json:"model_version"`
	// Variant is the feature-set variant the model was trained on.
	Variant string `json:"variant"`
}

// Predictor is a loaded match-winner model.
type Predictor interface {
	// Predict answers req. It returns an error wrapping ErrUnknownTeam for a
	// team the model has no data for, and ErrSameTeam when Home == Away.
	Predict(ctx context.Context, req Request) (Prediction, error)
	// Teams lists every team the model knows, sorted.
	Teams() []string
	// WorldCupTeams lists the 32 teams of the 2022 World Cup, sorted.
	WorldCupTeams() []string
	// Version identifies the model (Prediction.ModelVersion).
	Version() string
}

// Errors a Predictor returns for requests it cannot answer.
var (
	ErrUnknownTeam = errors.New("unknown team")
	ErrSameTeam    = errors.New("a team cannot play itself")
)
