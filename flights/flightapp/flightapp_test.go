package flightapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/datalabhq/datalab/flights/flightapp"
	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/flights/flightstore/storetest"
	"github.com/datalabhq/datalab/flights/flighttest"
	"github.com/datalabhq/datalab/internal/browsertest"
	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/datalabhq/datalab/pipeline/sparkml"
	"github.com/google/uuid"
)

type testStack struct {
	*flightapp.Stack
	store *sqlstore.Store
	srv   *httptest.Server
}

// startStack runs broker + app + predictor in this process, on loopback,
// with a SQLite store.
func startStack(t *testing.T, predictor bool) *testStack {
	t.Helper()
	sc, dist := flighttest.Fixtures(t)
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "flights.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := flightapp.StartStack(context.Background(), flightapp.StackConfig{
		EmbeddedAddr: "127.0.0.1:0", Scorer: sc, Distances: dist, Store: st, NoPredictor: !predictor,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	srv := httptest.NewServer(s.App)
	t.Cleanup(srv.Close)
	return &testStack{Stack: s, store: st, srv: srv}
}

func postForm(t *testing.T, base string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+"/flights/delays/predict/classify_realtime", form)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func decode(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("HTTP %d: body is not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

func getResponse(t *testing.T, base, id string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(base + "/flights/delays/predict/classify_realtime/response/" + id)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

// waitOK polls the response route until the prediction is there.
func waitOK(t *testing.T, base, id string, within time.Duration) map[string]any {
	t.Helper()
	var code int
	var body map[string]any
	if !testwait.Poll(within, 5*time.Millisecond, func() bool {
		code, body = getResponse(t, base, id)
		if code == 200 && body["status"] == "OK" {
			return true
		}
		if code != 200 || body["status"] != "WAIT" {
			t.Fatalf("response for %s: %d %v", id, code, body)
		}
		return false
	}) {
		t.Fatalf("response for %s: %d %v", id, code, body)
	}
	return body
}

func seedForm() url.Values {
	return url.Values{"DepDelay": {"5"}, "Carrier": {"AA"}, "FlightDate": {"2016-12-25"}, "Origin": {"ATL"}, "Dest": {"SFO"}}
}

// TestSeedContract walks the seed's routes: POST → id, WAIT while no
// predictor runs, a restarted app (new handler, same store) still answers
// WAIT for the issued id and 404 for one never issued, then OK with the
// stored document once a predictor runs.
func TestSeedContract(t *testing.T) {
	s := startStack(t, false)
	code, body := postForm(t, s.srv.URL, seedForm())
	id, _ := body["id"].(string)
	if code != 200 || body["status"] != "OK" || uuid.Validate(id) != nil {
		t.Fatalf("POST: %d %v", code, body)
	}
	if code, body := getResponse(t, s.srv.URL, id); code != 200 || body["status"] != "WAIT" || body["id"] != id {
		t.Fatalf("before prediction: %d %v", code, body)
	}
	never := uuid.NewString()
	if code, body := getResponse(t, s.srv.URL, never); code != 404 || !strings.Contains(body["error"].(string), "never issued") {
		t.Fatalf("never issued: %d %v", code, body)
	}
	if code, _ := getResponse(t, s.srv.URL, "not-a-uuid"); code != 404 {
		t.Fatalf("malformed id: %d", code)
	}

	// A restarted app: a new handler over the same store.
	sc, dist := flighttest.Fixtures(t)
	app2, err := flightapp.New(flightapp.Config{Enricher: &flightdelay.Enricher{Distances: dist, Scorer: sc},
		Scorer: sc, Store: s.store, Publisher: s.Producer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(app2)
	defer srv2.Close()
	if code, body := getResponse(t, srv2.URL, id); code != 200 || body["status"] != "WAIT" {
		t.Fatalf("restarted app, issued id: %d %v", code, body)
	}
	if code, _ := getResponse(t, srv2.URL, never); code != 404 {
		t.Fatalf("restarted app, never issued: %d", code)
	}

	// Now a predictor answers.
	s2 := startPredictorOn(t, s)
	_ = s2
	body = waitOK(t, srv2.URL, id, 10*time.Second)
	pred := body["prediction"].(map[string]any)
	for _, f := range []string{"Origin", "DayOfWeek", "DayOfYear", "DayOfMonth", "Dest", "DepDelay", "Timestamp",
		"FlightDate", "Carrier", "UUID", "Distance", "Route", "Prediction"} {
		if _, ok := pred[f]; !ok {
			t.Errorf("prediction lacks seed field %s: %v", f, pred)
		}
	}
	if pred["Route"] != "ATL-SFO" || pred["Distance"] != 2139.0 || pred["DayOfWeek"] != 7.0 || pred["DayOfYear"] != 360.0 || pred["UUID"] != id {
		t.Fatalf("prediction %v", pred)
	}
}

// startPredictorOn runs a second stack's predictor against s's broker.
func startPredictorOn(t *testing.T, s *testStack) *flightapp.Stack {
	sc, dist := flighttest.Fixtures(t)
	p, err := flightapp.StartStack(context.Background(), flightapp.StackConfig{Brokers: s.Brokers, Scorer: sc,
		Distances: dist, Store: s.store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestBadInput sends bad input to every route: each answer is a JSON error
// with a clear message and the right code.
func TestBadInput(t *testing.T) {
	s := startStack(t, false)
	with := func(k, v string) url.Values {
		f := seedForm()
		f.Set(k, v)
		return f
	}
	without := func(k string) url.Values {
		f := seedForm()
		f.Del(k)
		return f
	}
	huge := strings.Repeat("x", 1<<20)
	tests := []struct {
		name, route, ctype, body string
		code                     int
		text                     string
	}{
		{"missing delay", "classify", "form", without("DepDelay").Encode(), 400, "DepDelay: missing"},
		{"delay not a number", "classify", "form", with("DepDelay", "late").Encode(), 400, `DepDelay: "late" is not a number`},
		{"missing carrier", "classify", "form", without("Carrier").Encode(), 400, "Carrier: missing"},
		{"unknown carrier", "classify", "form", with("Carrier", "ZZ").Encode(), 400, `does not know Carrier "ZZ"`},
		{"unknown airport", "classify", "form", with("Dest", "QQQ").Encode(), 400, "no distance for ATL→QQQ"},
		{"bad date", "classify", "form", with("FlightDate", "2016-13-01").Encode(), 400, "FlightDate"},
		{"date text", "classify", "form", with("FlightDate", "christmas").Encode(), 400, "not a date"},
		{"missing date", "classify", "form", without("FlightDate").Encode(), 400, "FlightDate: missing"},
		{"bad flight number", "classify", "form", with("FlightNum", "AA12").Encode(), 400, "FlightNum"},
		{"huge body", "classify", "form", "DepDelay=" + huge, 413, "larger than"},
		{"wrong content type", "classify", "text/plain", "hello", 400, "Content-Type"},
		{"json unknown field", "api", "json", `{"DepDelay":5,"Carrier":"AA","FlightDate":"2016-12-25","Origin":"ATL","Dest":"SFO","Extra":1}`, 400, `unknown field "Extra"`},
		{"json not object", "api", "json", `[1,2]`, 400, "not a JSON object"},
		{"json bad type", "api", "json", `{"DepDelay":[5]}`, 400, "want a string or a number"},
		{"json huge", "api", "json", `{"Carrier":"` + huge + `"}`, 413, "larger than"},
		{"json unknown route", "api", "json", `{"DepDelay":5,"Carrier":"AA","FlightDate":"2016-12-25","Origin":"ATL","Dest":"ATL"}`, 400, "same as Origin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := "/flights/delays/predict/classify_realtime"
			if tc.route == "api" {
				path = "/api/v1/flights/predict"
			}
			ct := map[string]string{"form": "application/x-www-form-urlencoded", "json": "application/json"}[tc.ctype]
			if ct == "" {
				ct = tc.ctype
			}
			resp, err := http.Post(s.srv.URL+path, ct, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			code, body := decode(t, resp)
			if code != tc.code || body["status"] != "ERROR" || !strings.Contains(fmt.Sprint(body["error"]), tc.text) {
				t.Fatalf("%d %v; want %d with %q", code, body, tc.code, tc.text)
			}
		})
	}
	// Nothing was issued for the rejected requests.
	if n, _ := s.store.Count(context.Background()); n != 0 {
		t.Fatalf("%d predictions stored", n)
	}
	// Wrong methods.
	resp, _ := http.Get(s.srv.URL + "/flights/delays/predict/classify_realtime")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET on the POST route: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

// TestSyncAPIAndOps checks the synchronous API, /healthz and /metrics.
func TestSyncAPIAndOps(t *testing.T) {
	s := startStack(t, false)
	resp, err := http.Post(s.srv.URL+"/api/v1/flights/predict", "application/json",
		strings.NewReader(`{"DepDelay":5,"Carrier":"AA","FlightDate":"2016-12-25","Origin":"ATL","Dest":"SFO","FlightNum":null}`))
	if err != nil {
		t.Fatal(err)
	}
	code, body := decode(t, resp)
	pred, _ := body["prediction"].(map[string]any)
	if code != 200 || pred["Route"] != "ATL-SFO" || pred["PredictionLabel"] == "" {
		t.Fatalf("sync API: %d %v", code, body)
	}
	resp, _ = http.Get(s.srv.URL + "/healthz")
	if code, body := decode(t, resp); code != 200 || body["status"] != "OK" {
		t.Fatalf("healthz: %d %v", code, body)
	}
	resp, _ = http.Get(s.srv.URL + "/metrics")
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(m, []byte(`datalab_http_requests_total{app="flights",code="200",handler="api_predict",method="post"} 1`)) {
		t.Fatalf("metrics:\n%s", m)
	}
	resp, _ = http.Get(s.srv.URL + "/flights/delays/predict_kafka")
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`name="DepDelay" value="5"`, `name="Carrier" value="AA"`, `name="FlightDate" value="2016-12-25"`,
		`name="Origin" value="ATL"`, `name="Dest" value="SFO"`, "Departure Delay", "Destination"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("form page lacks %s", want)
		}
	}
}

// TestSameAsSparkml sends requests through app → Kafka → predictor → store
// and compares each stored prediction with the Spark 3.3.3 model scored by
// sparkml directly, as `datalab predict` does.
func TestSameAsSparkml(t *testing.T) {
	s := startStack(t, true)
	p, err := sparkml.LoadPipeline(flighttest.ModelDir(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Derive = []sparkml.Derivation{{Output: "Route", Inputs: []string{"Origin", "Dest"}, Sep: "-"}}
	cases := []url.Values{}
	for i, r := range [][3]string{{"AA", "ATL", "SFO"}, {"DL", "ATL", "LAX"}, {"UA", "SFO", "ORD"}, {"WN", "LAS", "PHX"},
		{"AA", "DFW", "ORD"}, {"B6", "JFK", "BOS"}, {"AS", "SEA", "ANC"}, {"OO", "DEN", "SLC"}} {
		for j, delay := range []string{"-20", "0", "14", "75"} {
			cases = append(cases, url.Values{"DepDelay": {delay}, "Carrier": {r[0]}, "Origin": {r[1]}, "Dest": {r[2]},
				"FlightDate": {fmt.Sprintf("2015-01-%02d", 1+(i*4+j)%31)}})
		}
	}
	var ids []string
	for _, c := range cases {
		code, body := postForm(t, s.srv.URL, c)
		if code != 200 {
			t.Fatalf("%v: %d %v", c, code, body)
		}
		ids = append(ids, body["id"].(string))
	}
	for i, id := range ids {
		pred := waitOK(t, s.srv.URL, id, 10*time.Second)["prediction"].(map[string]any)
		row := map[string]any{}
		for _, k := range []string{"Carrier", "Origin", "Dest", "DepDelay", "Distance", "DayOfMonth", "DayOfWeek", "DayOfYear"} {
			row[k] = pred[k]
		}
		line, _ := json.Marshal(row)
		var out bytes.Buffer
		if _, err := sparkml.PredictJSONL(context.Background(), p, bytes.NewReader(line), &out); err != nil {
			t.Fatal(err)
		}
		var want struct {
			Prediction  float64
			Probability []float64
		}
		json.Unmarshal(out.Bytes(), &want)
		if pred["Prediction"] != want.Prediction || fmt.Sprint(pred["Probability"]) != fmt.Sprint(want.Probability) {
			t.Fatalf("case %d %v: served %v %v, sparkml %v", i, cases[i], pred["Prediction"], pred["Probability"], out.String())
		}
	}
}

// TestBrowser submits the seed form in headless Chromium: the page shows
// "Processing…", then the bucket label within 2 s, and the document is in
// the store with every seed field.
func TestBrowser(t *testing.T) {
	s := startStack(t, true)
	b := browsertest.New(t, 60*time.Second)
	b.Do(t, chromedp.Navigate(s.srv.URL+"/flights/delays/predict_kafka"), chromedp.WaitVisible("#submit"))
	b.Do(t, chromedp.SetValue("#Origin", "ATL"), chromedp.SetValue("#Dest", "SFO"))
	start := time.Now()
	b.Do(t, chromedp.Click("#submit"))
	if got := browsertest.Get(t, b, chromedp.Text("#result")); got != "Processing…" {
		t.Fatalf("right after submit the page shows %q", got)
	}
	// Watch the status line as a person would, every 20 ms, until 5 s
	// after the submit.
	if !testwait.Poll(5*time.Second-time.Since(start), 20*time.Millisecond, func() bool {
		return browsertest.Get(t, b, chromedp.AttributeValue("#result", "class")).Value == "done"
	}) {
		t.Fatalf("after 5 s the page shows %q", browsertest.Get(t, b, chromedp.Text("#result")))
	}
	label := browsertest.Get(t, b, chromedp.Text("#result"))
	elapsed := time.Since(start)
	if elapsed > 2*time.Second {
		t.Fatalf("label after %v, want within 2 s", elapsed)
	}
	known := false
	for _, l := range flightdelay.BucketLabels {
		known = known || l == label
	}
	if !known {
		t.Fatalf("page shows %q, not a bucket label", label)
	}
	b.Screenshot(t, filepath.Join(t.TempDir(), "flight.png"))
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %v", errs)
	}
	if n, _ := s.store.Count(context.Background()); n != 1 {
		t.Fatalf("%d documents stored", n)
	}
	var id string
	s.store.DB().QueryRow("SELECT uuid FROM " + sqlstore.Table).Scan(&id)
	doc, status, err := s.store.Get(context.Background(), id)
	if err != nil || status != flightstore.Done || doc.Origin != "ATL" || doc.Dest != "SFO" || doc.Route != "ATL-SFO" ||
		doc.Carrier != "AA" || doc.FlightDate != "2016-12-25" || doc.DepDelay != 5 || doc.Distance != 2139 ||
		doc.DayOfWeek != 7 || doc.DayOfYear != 360 || doc.DayOfMonth != 25 || doc.Timestamp == "" || doc.UUID != id ||
		flightdelay.BucketLabel(doc.Prediction) != label {
		t.Fatalf("stored document %+v (%v, %v); page label %q", doc, status, err, label)
	}
	t.Logf("label %q after %v", label, elapsed.Round(time.Millisecond))
}

// TestExpiredRequest: an issued request nobody answers within the store's
// TTL is answered 410 {"status":"EXPIRED"} with a message saying to submit
// it again (the page shows the message), and once the store has removed it
// 404 with a message that names expiry as a cause.
func TestExpiredRequest(t *testing.T) {
	sc, dist := flighttest.Fixtures(t)
	clock := storetest.NewClock(time.Now())
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "flights.db"),
		sqlstore.WithPolicy(flightstore.Policy{PendingTTL: time.Minute, CleanupEvery: -1, Now: clock.Now}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := flightapp.StartStack(context.Background(), flightapp.StackConfig{
		EmbeddedAddr: "127.0.0.1:0", Scorer: sc, Distances: dist, Store: st, NoPredictor: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	srv := httptest.NewServer(s.App)
	t.Cleanup(srv.Close)

	_, body := postForm(t, srv.URL, seedForm())
	id, _ := body["id"].(string)
	if code, body := getResponse(t, srv.URL, id); code != 200 || body["status"] != "WAIT" {
		t.Fatalf("within the TTL: %d %v", code, body)
	}
	clock.Advance(time.Minute + time.Second)
	code, body := getResponse(t, srv.URL, id)
	if msg, _ := body["error"].(string); code != http.StatusGone || body["status"] != "EXPIRED" || body["id"] != id ||
		!strings.Contains(msg, "submit it again") {
		t.Fatalf("after the TTL: %d %v, want 410 EXPIRED with a message", code, body)
	}
	if n, err := st.RemoveExpired(context.Background()); err != nil || n != 1 {
		t.Fatalf("RemoveExpired = %d, %v", n, err)
	}
	code, body = getResponse(t, srv.URL, id)
	if msg, _ := body["error"].(string); code != http.StatusNotFound || !strings.Contains(msg, "expired") {
		t.Fatalf("after the cleanup: %d %v, want 404 naming expiry", code, body)
	}
}
