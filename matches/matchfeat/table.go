package matchfeat

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// FeaturesSchema is the datalab.schema metadata value of the features file.
const FeaturesSchema = "datalab.match_features/v1"

// Row is one historical match with its features (as of its date) and result.
type Row struct {
	Match    *ingest.MatchRow
	Features Features
}

// TrainingRows computes the features of every match from the lookup, as of
// the match's date, in the order of rows.
func TrainingRows(lk *Lookup, rows []ingest.MatchRow) ([]Row, error) {
	out := make([]Row, len(rows))
	for i := range rows {
		r := &rows[i]
		f, err := lk.Features(r.HomeTeam, r.AwayTeam, r.NeutralLocation, r.Date)
		if err != nil {
			return nil, fmt.Errorf("match %d (%s %s vs %s): %w", i+1, r.Date, r.HomeTeam, r.AwayTeam, err)
		}
		out[i] = Row{Match: r, Features: f}
	}
	return out, nil
}

// Record is one row of the features Parquet file: the match, its label
// columns and every feature, for inspection in DuckDB or a notebook.
// NaN marks a missing value.
type Record struct {
	Date            ingest.Date `parquet:"date,date"`
	HomeTeam        string      `parquet:"home_team,dict"`
	AwayTeam        string      `parquet:"away_team,dict"`
	HomeContinent   string      `parquet:"home_team_continent,dict"`
	AwayContinent   string      `parquet:"away_team_continent,dict"`
	Tournament      string      `parquet:"tournament,dict"`
	HomeScore       int32       `parquet:"home_team_score"`
	AwayScore       int32       `parquet:"away_team_score"`
	Outcome         string      `parquet:"outcome,dict"`
	HomeWin         int32       `parquet:"home_win"`
	HomeRank        float64     `parquet:"home_team_fifa_rank"`
	AwayRank        float64     `parquet:"away_team_fifa_rank"`
	HomePoints      float64     `parquet:"home_team_total_fifa_points"`
	AwayPoints      float64     `parquet:"away_team_total_fifa_points"`
	Year            float64     `parquet:"year"`
	Neutral         float64     `parquet:"neutral"`
	RankDiff        float64     `parquet:"rank_diff"`
	PointsDiff      float64     `parquet:"points_diff"`
	HomeElo         float64     `parquet:"home_elo"`
	AwayElo         float64     `parquet:"away_elo"`
	EloDiff         float64     `parquet:"elo_diff"`
	EloExpected     float64     `parquet:"elo_expected"`
	HomeFormPoints  float64     `parquet:"home_form_points"`
	AwayFormPoints  float64     `parquet:"away_form_points"`
	FormPointsDiff  float64     `parquet:"form_points_diff"`
	HomeFormGD      float64     `parquet:"home_form_gd"`
	AwayFormGD      float64     `parquet:"away_form_gd"`
	FormGDDiff      float64     `parquet:"form_gd_diff"`
	HomePlayed      float64     `parquet:"home_played"`
	AwayPlayed      float64     `parquet:"away_played"`
	H2HPlayed       float64     `parquet:"h2h_played"`
	H2HScore        float64     `parquet:"h2h_score"`
	H2HGD           float64     `parquet:"h2h_gd"`
	HomeSquad       float64     `parquet:"home_squad"`
	AwaySquad       float64     `parquet:"away_squad"`
	SquadDiff       float64     `parquet:"squad_diff"`
	SquadGKDiff     float64     `parquet:"squad_gk_diff"`
	SquadDefDiff    float64     `parquet:"squad_def_diff"`
	SquadMidDiff    float64     `parquet:"squad_mid_diff"`
	SquadOffDiff    float64     `parquet:"squad_off_diff"`
	AttackVsDefense float64     `parquet:"attack_vs_defense"`
	DefenseVsAttack float64     `parquet:"defense_vs_attack"`
}

// recordColumns maps each feature column of Record to its field, so that
// NewRecord fills them from the one feature table (numericFeatures).
func (rec *Record) columns() map[string]*float64 {
	return map[string]*float64{
		"home_team_fifa_rank": &rec.HomeRank, "away_team_fifa_rank": &rec.AwayRank,
		"home_team_total_fifa_points": &rec.HomePoints, "away_team_total_fifa_points": &rec.AwayPoints,
		"year": &rec.Year, "neutral": &rec.Neutral, "rank_diff": &rec.RankDiff, "points_diff": &rec.PointsDiff,
		"home_elo": &rec.HomeElo, "away_elo": &rec.AwayElo, "elo_diff": &rec.EloDiff, "elo_expected": &rec.EloExpected,
		"home_form_points": &rec.HomeFormPoints, "away_form_points": &rec.AwayFormPoints,
		"form_points_diff": &rec.FormPointsDiff, "home_form_gd": &rec.HomeFormGD, "away_form_gd": &rec.AwayFormGD,
		"form_gd_diff": &rec.FormGDDiff, "home_played": &rec.HomePlayed, "away_played": &rec.AwayPlayed,
		"h2h_played": &rec.H2HPlayed, "h2h_score": &rec.H2HScore, "h2h_gd": &rec.H2HGD,
		"home_squad": &rec.HomeSquad, "away_squad": &rec.AwaySquad, "squad_diff": &rec.SquadDiff,
		"squad_gk_diff": &rec.SquadGKDiff, "squad_def_diff": &rec.SquadDefDiff, "squad_mid_diff": &rec.SquadMidDiff,
		"squad_off_diff": &rec.SquadOffDiff, "attack_vs_defense": &rec.AttackVsDefense, "defense_vs_attack": &rec.DefenseVsAttack,
	}
}

// NewRecord renders a training row as a Record.
func NewRecord(r *Row) (Record, error) {
	m := r.Match
	outcome, _ := Variants["form3"].Label(m.HomeTeamScore, m.AwayTeamScore)
	rec := Record{
		Date: m.Date, HomeTeam: m.HomeTeam, AwayTeam: m.AwayTeam,
		HomeContinent: r.Features.Home.Continent, AwayContinent: r.Features.Away.Continent,
		Tournament: m.Tournament, HomeScore: m.HomeTeamScore, AwayScore: m.AwayTeamScore,
		Outcome: string(ThreeClasses[outcome]),
	}
	if m.HomeTeamScore > m.AwayTeamScore {
		rec.HomeWin = 1
	}
	cols := rec.columns()
	if len(cols) != len(numericFeatures) {
		return Record{}, fmt.Errorf("features record has %d feature columns, the feature table %d", len(cols), len(numericFeatures))
	}
	for name, dst := range cols {
		fn, ok := numericFeatures[name]
		if !ok {
			return Record{}, fmt.Errorf("features record column %q is not a feature", name)
		}
		*dst = fn(&r.Features)
	}
	return rec, nil
}

// WriteFeatures writes the training rows as a zstd Parquet file, atomically.
func WriteFeatures(path string, rows []Row) error {
	recs := make([]Record, len(rows))
	for i := range rows {
		rec, err := NewRecord(&rows[i])
		if err != nil {
			return err
		}
		recs[i] = rec
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		pw := parquet.NewGenericWriter[Record](bw,
			parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
			parquet.MaxRowsPerRowGroup(ingest.RowGroupRows),
			parquet.KeyValueMetadata(ingest.SchemaMetadataKey, FeaturesSchema),
		)
		if _, err := pw.Write(recs); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := pw.Close(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return bw.Flush()
	})
}

// ReadFeatures reads a features Parquet file written by WriteFeatures.
func ReadFeatures(path string) ([]Record, error) {
	recs, err := parquet.ReadFile[Record](path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w (run `datalab features matches` first)", path, err)
	}
	return recs, nil
}

// WriteLookup saves the lookup as indented JSON (map keys sorted, so the
// same lookup always gives the same bytes), atomically.
func WriteLookup(path string, lk *Lookup) error {
	b, err := MarshalLookup(lk)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b)
}

// MarshalLookup encodes the lookup as JSON, one team entry per line.
func MarshalLookup(lk *Lookup) ([]byte, error) {
	var buf bytes.Buffer
	head, err := json.Marshal(struct {
		Schema    string      `json:"schema"`
		FirstDate ingest.Date `json:"first_date"`
		LastDate  ingest.Date `json:"last_date"`
		Matches   int         `json:"matches"`
	}{lk.Schema, lk.FirstDate, lk.LastDate, lk.Matches})
	if err != nil {
		return nil, err
	}
	buf.Write(head[:len(head)-1])
	writeMap := func(key string, names []string, value func(string) any) error {
		fmt.Fprintf(&buf, ",\n%q: {", key)
		for i, n := range names {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(n)
			v, err := json.Marshal(value(n))
			if err != nil {
				return err
			}
			fmt.Fprintf(&buf, "\n%s: %s", k, v)
		}
		buf.WriteString("\n}")
		return nil
	}
	if err := writeMap("teams", lk.TeamNames(), func(n string) any { return lk.Teams[n] }); err != nil {
		return nil, err
	}
	pairs := make([]string, 0, len(lk.H2H))
	for k := range lk.H2H {
		pairs = append(pairs, k)
	}
	sort.Strings(pairs)
	if err := writeMap("h2h", pairs, func(n string) any { return lk.H2H[n] }); err != nil {
		return nil, err
	}
	buf.WriteString("\n}\n")
	return buf.Bytes(), nil
}

// ReadLookup loads and validates a lookup saved by WriteLookup.
func ReadLookup(path string) (*Lookup, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read lookup: %w (run `datalab features matches` first)", err)
	}
	lk, err := ParseLookup(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return lk, nil
}

// ParseLookup decodes and validates a lookup saved by MarshalLookup.
func ParseLookup(data []byte) (*Lookup, error) {
	var lk Lookup
	if err := json.Unmarshal(data, &lk); err != nil {
		return nil, fmt.Errorf("corrupt lookup: %w", err)
	}
	if err := lk.Validate(); err != nil {
		return nil, err
	}
	return &lk, nil
}
