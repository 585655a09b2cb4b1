package flightapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/datalabhq/datalab/flights/flightdelay"
)

// FuzzReadForm feeds arbitrary bodies to the request decoder of both POST
// routes, as JSON and as a urlencoded form: it never panics, every failure
// is a 400 (ValidationError) or 413 (MaxBytesError), and a JSON body is
// accepted only when it is exactly one JSON object.
func FuzzReadForm(f *testing.F) {
	for _, s := range []struct {
		json bool
		body string
	}{
		{true, `{"DepDelay":5,"Carrier":"AA","FlightDate":"2016-12-25","Origin":"ATL","Dest":"SFO"}`},
		{true, `{"DepDelay":"5","FlightNum":null}`},
		{true, `{"DepDelay":5} garbage`},
		{true, `{"DepDelay":[5]}`},
		{true, `[1,2]`},
		{true, `{"depdelay":5}`},
		{true, ``},
		{false, "DepDelay=5&Carrier=AA&FlightDate=2016-12-25&Origin=ATL&Dest=SFO"},
		{false, "DepDelay=%zz"},
	} {
		f.Add(s.json, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, isJSON bool, body []byte) {
		r := httptest.NewRequest("POST", "/api/v1/flights/predict", bytes.NewReader(body))
		ct := "application/x-www-form-urlencoded"
		if isJSON {
			ct = "application/json"
		}
		r.Header.Set("Content-Type", ct)
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 16<<10)
		_, err := readForm(r)
		if err == nil {
			if isJSON {
				var v map[string]json.RawMessage
				dec := json.NewDecoder(bytes.NewReader(body))
				if dec.Decode(&v) != nil || len(bytes.Trim(body[dec.InputOffset():], " \t\r\n")) > 0 {
					t.Fatalf("accepted %q, which is not exactly one JSON object", body)
				}
			}
			return
		}
		var ve *flightdelay.ValidationError
		if !errors.As(err, &ve) && !errors.As(err, new(*http.MaxBytesError)) {
			t.Fatalf("%q: %T %v is neither a 400 nor a 413", body, err, err)
		}
	})
}
