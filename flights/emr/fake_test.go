package emr

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awsemr "github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/datalabhq/datalab/pipeline/objstore/objstoretest"
)

// Test credentials and region, set in the environment at run time and
// read by the SDK's default chain like real ones.
const (
	testKeyID  = "AKIDDATALABTEST"
	testRegion = "eu-west-1"
	testBucket = "lab-bucket"
)

// call is one request the fake EMR endpoint received.
type call struct {
	Op   string
	Body map[string]any
	Raw  []byte
}

// fakeEMR is an httptest server speaking EMR's awsJson1_1 protocol: POST /
// with X-Amz-Target: ElasticMapReduce.<Operation>, a JSON body, SigV4
// signed. It records every call, checks the protocol on each, and answers
// from a script: the states each step goes through, and operations that
// fail.
type fakeEMR struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	calls []call
	// steps[i] are the states DescribeStep reports for the i-th added step,
	// one per call; the last one repeats.
	steps [][]string
	// failure is the FailureDetails of a step that FAILED.
	failure map[string]any
	// fail maps an operation to the error type it answers with.
	fail map[string]string
	// onAddSteps and onDescribeStep run inside those operations (the fake
	// "cluster" writing its output; a test cancelling mid-wait).
	onAddSteps     func(body map[string]any)
	onDescribeStep func(n int)
	described      int
}

const clusterID = "j-2AXXXXXXGAPLF"

func newFakeEMR(t *testing.T) *fakeEMR {
	f := &fakeEMR{t: t, fail: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEMR) serve(w http.ResponseWriter, r *http.Request) {
	t := f.t
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "ElasticMapReduce.")
	auth := r.Header.Get("Authorization")
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		t.Errorf("%s %s: want POST /", r.Method, r.URL.Path)
	case !ok:
		t.Errorf("X-Amz-Target %q: want ElasticMapReduce.<Operation>", target)
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		t.Errorf("%s: Content-Type %q, want application/x-amz-json-1.1", op, r.Header.Get("Content-Type"))
	case !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+testKeyID+"/") ||
		!strings.Contains(auth, "/"+testRegion+"/elasticmapreduce/aws4_request") ||
		!strings.Contains(auth, "SignedHeaders=") || !strings.Contains(auth, "x-amz-target") || !strings.Contains(auth, "Signature="):
		t.Errorf("%s: Authorization %q: want SigV4 for %s/elasticmapreduce over x-amz-target", op, auth, testRegion)
	case r.Header.Get("X-Amz-Date") == "":
		t.Errorf("%s: no X-Amz-Date", op)
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Errorf("%s: body is not JSON: %v", op, err)
	}
	f.mu.Lock()
	f.calls = append(f.calls, call{Op: op, Body: body, Raw: raw})
	errType := f.fail[op]
	f.mu.Unlock()

	if errType != "" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"%s","Message":"fake %s failure"}`, errType, op)
		return
	}
	var resp any
	switch op {
	case "RunJobFlow":
		resp = map[string]any{"JobFlowId": clusterID, "ClusterArn": "arn:aws:elasticmapreduce:" + testRegion + ":123456789012:cluster/" + clusterID}
	case "AddJobFlowSteps":
		if f.onAddSteps != nil {
			f.onAddSteps(body)
		}
		steps, _ := body["Steps"].([]any)
		ids := []string{}
		for i := range steps {
			ids = append(ids, fmt.Sprintf("s-STEP%d", i))
		}
		resp = map[string]any{"StepIds": ids}
	case "DescribeStep":
		f.mu.Lock()
		f.described++
		n := f.described
		var i int
		fmt.Sscanf(fmt.Sprint(body["StepId"]), "s-STEP%d", &i)
		states := f.steps[i]
		state := states[0]
		if len(states) > 1 {
			f.steps[i] = states[1:]
		}
		f.mu.Unlock()
		if f.onDescribeStep != nil {
			f.onDescribeStep(n)
		}
		status := map[string]any{"State": state}
		if state == "FAILED" && f.failure != nil {
			status["FailureDetails"] = f.failure
		}
		resp = map[string]any{"Step": map[string]any{"Id": body["StepId"], "Name": "step", "Status": status}}
	case "DescribeCluster":
		resp = map[string]any{"Cluster": map[string]any{"Id": clusterID, "Name": "datalab",
			"Status": map[string]any{"State": "WAITING", "StateChangeReason": map[string]any{"Message": "Waiting after step failed"}}}}
	case "TerminateJobFlows":
		resp = map[string]any{}
	default:
		t.Errorf("unexpected operation %s", op)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(resp)
}

// ops lists the operations received, in order.
func (f *fakeEMR) ops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.Op)
	}
	return out
}

// callsOf returns the calls of one operation.
func (f *fakeEMR) callsOf(op string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// testClients sets test credentials in the environment and returns real
// SDK clients: EMR pointed at the fake endpoint, S3 at the fake S3, both
// without retries (a failure is the test's, not a transient one).
func testClients(t *testing.T, emrURL string, s *objstoretest.S3) (*awsemr.Client, *s3.Client) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "datalab-test-secret")
	t.Setenv("AWS_REGION", testRegion)
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e := awsemr.NewFromConfig(cfg, func(o *awsemr.Options) {
		o.BaseEndpoint = aws.String(emrURL)
		o.RetryMaxAttempts = 1
	})
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
		o.UsePathStyle = true
		o.RetryMaxAttempts = 1
	})
	return e, c
}
