package stream

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topics names the predictor's topics.
type Topics struct {
	// Request carries flightdelay.Request messages keyed by UUID.
	Request string
	// Response carries the stored prediction documents keyed by UUID.
	Response string
	// DeadLetter receives request records the predictor could not use,
	// unchanged, with the reason in the dlq.reason header.
	DeadLetter string
}

// DefaultTopics are the seed's topic names plus a dead-letter topic.
func DefaultTopics() Topics {
	return Topics{
		Request:    "flight_delay_classification_request",
		Response:   "flight_delay_classification_response",
		DeadLetter: "flight_delay_classification_request.dlq",
	}
}

// All lists the topics.
func (t Topics) All() []string { return []string{t.Request, t.Response, t.DeadLetter} }

// Validate checks the names are set and distinct.
func (t Topics) Validate() error {
	if t.Request == "" || t.Response == "" || t.DeadLetter == "" {
		return errors.New("topics: request, response and dead-letter topic names are all required")
	}
	if t.Request == t.Response || t.Request == t.DeadLetter || t.Response == t.DeadLetter {
		return fmt.Errorf("topics: request %q, response %q and dead-letter %q must differ", t.Request, t.Response, t.DeadLetter)
	}
	return nil
}

// EnsureTopics creates the topics that do not exist yet with the given
// partition count (replication factor: the broker's default). Existing
// topics are left as they are.
func EnsureTopics(ctx context.Context, cl *kgo.Client, partitions int32, names ...string) error {
	if partitions < 1 {
		return fmt.Errorf("create topics: %d partitions: want at least 1", partitions)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	for _, n := range names {
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic = n
		t.NumPartitions = partitions
		t.ReplicationFactor = -1
		req.Topics = append(req.Topics, t)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create topics %v: %w (is a broker at the --brokers address?)", names, err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.Topic, err)
		}
	}
	return nil
}
