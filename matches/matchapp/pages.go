package matchapp

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/datalabhq/datalab/matches/matchwinner"
)

//go:embed templates/*.html
var templateFS embed.FS

// templates are parsed once; html/template escapes every value by context,
// so team names with quotes or markup are shown as text.
var templates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// pageData feeds the form and result pages.
type pageData struct {
	Home, Away    string
	Neutral       bool
	WorldCupTeams []string
	TeamCount     int
	Error         string

	// Result page only.
	Verdict      string
	Percent      string
	Rows         []outcomeRow
	AsOf         string
	ModelVersion string
	Variant      string
}

type outcomeRow struct{ Label, Percent string }

// outcomeOrder is the display order of outcomes.
var outcomeOrder = map[matchwinner.Outcome]int{matchwinner.HomeWin: 0, matchwinner.Draw: 1, matchwinner.AwayWin: 2, matchwinner.NotHomeWin: 3}

// outcomeLabel says what an outcome means for this match in words. A draw is
// a draw — the seed app showed it as an away win.
func outcomeLabel(o matchwinner.Outcome, home, away string) string {
	switch o {
	case matchwinner.HomeWin:
		return home + " wins"
	case matchwinner.AwayWin:
		return away + " wins"
	case matchwinner.Draw:
		return "Draw"
	case matchwinner.NotHomeWin:
		return home + " does not win (draw or " + away + " wins)"
	}
	return string(o)
}

// percent formats a probability as a percentage with digits decimals.
func percent(p float64, digits int) string { return fmt.Sprintf("%.*f", digits, 100*p) }

func (m *servedModel) formData(home, away string, neutral bool) pageData {
	return pageData{Home: home, Away: away, Neutral: neutral, WorldCupTeams: m.wcTeams, TeamCount: m.allN}
}

func (a *App) handleHome(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "home", a.current().formData("", "", true))
}

// handlePredictForm answers the form: the result page, or the form again
// with the error and the values typed.
func (a *App) handlePredictForm(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if strings.Contains(err.Error(), "too large") {
			status = http.StatusRequestEntityTooLarge
		}
		d := a.current().formData("", "", true)
		d.Error = "The form could not be read: " + err.Error()
		a.render(w, r, status, "home", d)
		return
	}
	in := matchInput{
		Home: r.PostForm.Get("home"), Away: r.PostForm.Get("away"),
		Neutral: r.PostForm.Get("neutral") != "", AsOf: r.PostForm.Get("as_of"),
		ClientTime: r.Header.Get(ClientTimeHeader),
	}
	req, clientTime, rerr := a.validate(in)
	if rerr != nil {
		a.renderFormError(w, r, a.current(), in, rerr)
		return
	}
	m, now := a.snapshot()
	p, rerr := a.predict(r.Context(), m, req)
	if rerr != nil {
		a.renderFormError(w, r, m, in, rerr)
		return
	}
	a.record(req, p, clientTime, now)
	w.Header()[ModelVersionHeader] = m.header
	a.render(w, r, http.StatusOK, "result", m.resultData(req, p))
}

// renderFormError shows the form again with the error and the values typed.
func (a *App) renderFormError(w http.ResponseWriter, r *http.Request, m *servedModel, in matchInput, rerr *requestError) {
	d := m.formData(in.Home, in.Away, in.Neutral)
	d.Error = rerr.msg
	a.render(w, r, rerr.status, "home", d)
}

func (m *servedModel) resultData(req matchwinner.Request, p matchwinner.Prediction) pageData {
	d := m.formData(req.Home, req.Away, req.Neutral)
	d.Verdict = outcomeLabel(p.Outcome, req.Home, req.Away)
	d.Percent = percent(p.Probability, 0)
	d.ModelVersion, d.Variant = p.ModelVersion, p.Variant
	if !req.AsOf.IsZero() {
		d.AsOf = req.AsOf.Format(time.DateOnly)
	}
	outs := make([]matchwinner.Outcome, 0, len(p.Probabilities))
	for o := range p.Probabilities {
		outs = append(outs, o)
	}
	sort.Slice(outs, func(i, j int) bool { return outcomeOrder[outs[i]] < outcomeOrder[outs[j]] })
	for _, o := range outs {
		d.Rows = append(d.Rows, outcomeRow{outcomeLabel(o, req.Home, req.Away), percent(p.Probabilities[o], 1) + "%"})
	}
	return d
}

// render executes a template into a buffer first, so a template error
// becomes a clean 500 instead of half a page.
func (a *App) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		a.web.Fail(w, r, http.StatusInternalServerError, "internal error rendering the page", fmt.Errorf("template %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
