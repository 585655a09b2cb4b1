package matchapp

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/datalabhq/datalab/matches/matchwinner"
)

// appendJSON appends r as json.Encoder (HTML escaping on) writes it, newline
// included: the same bytes without reflection, the map's key slice or the
// encoder's buffers (0.5 µs and no allocation against 1.7 µs and 8,
// BenchmarkAPIResponseJSON; every prediction is answered this way). ok is
// false for what it leaves to encoding/json: a float JSON cannot hold, a
// map of more than 8 outcomes, a time outside years 0–9999.
func (r *apiResponse) appendJSON(b []byte) (_ []byte, ok bool) {
	b = append(b, `{"home":`...)
	b = appendJSONString(b, r.Home)
	b = append(b, `,"away":`...)
	b = appendJSONString(b, r.Away)
	b = append(b, `,"neutral":`...)
	b = strconv.AppendBool(b, r.Neutral)
	if r.AsOf != "" {
		b = append(b, `,"as_of":`...)
		b = appendJSONString(b, r.AsOf)
	}
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, string(r.Outcome))
	if r.Winner != "" {
		b = append(b, `,"winner":`...)
		b = appendJSONString(b, r.Winner)
	}
	b = append(b, `,"probability":`...)
	if b, ok = appendJSONFloat(b, r.Probability); !ok {
		return nil, false
	}
	b = append(b, `,"probabilities":`...)
	if r.Probabilities == nil {
		b = append(b, "null"...)
	} else {
		var keys [8]matchwinner.Outcome
		if len(r.Probabilities) > len(keys) {
			return nil, false
		}
		ks := keys[:0]
		for k := range r.Probabilities {
			ks = append(ks, k)
		}
		slices.Sort(ks) // encoding/json sorts map keys by their string
		b = append(b, '{')
		for i, k := range ks {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, string(k))
			b = append(b, ':')
			if b, ok = appendJSONFloat(b, r.Probabilities[k]); !ok {
				return nil, false
			}
		}
		b = append(b, '}')
	}
	b = append(b, `,"model_version":`...)
	b = appendJSONString(b, r.ModelVersion)
	b = append(b, `,"variant":`...)
	b = appendJSONString(b, r.Variant)
	b = append(b, `,"server_time":`...)
	if y := r.ServerTime.Year(); y < 0 || y > 9999 {
		return nil, false // time.Time.MarshalJSON refuses it
	}
	b = append(b, '"')
	b = r.ServerTime.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`+"\n"...), true
}

// appendJSONString appends s quoted as encoding/json quotes it with HTML
// escaping on; strings of plain printable ASCII (team names, outcomes,
// versions) are copied, the rest go through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONFloat appends f as encoding/json writes a float64: the shortest
// representation, in exponent form below 1e-6 and from 1e21 on, with
// encoding/json's exponent clean-up (e-07 → e-7). ok is false for NaN and
// infinities, which JSON cannot hold.
func appendJSONFloat(b []byte, f float64) (_ []byte, ok bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// writeAPIResponse writes the JSON API's answer with appendJSON, or with
// encoding/json for what appendJSON leaves to it.
func writeAPIResponse(w http.ResponseWriter, r *apiResponse) {
	b, ok := r.appendJSON(make([]byte, 0, 512))
	if !ok {
		writeJSON(w, http.StatusOK, r)
		return
	}
	setJSONHeaders(w)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b) // the client has gone if this fails
}
