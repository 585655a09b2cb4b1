package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer publishes classification requests, keyed by UUID so that all
// messages of one request land on one partition.
type Producer struct {
	cl    *kgo.Client
	topic string
}

// NewProducer connects to brokers and publishes to topic. It does not
// wait for the brokers: the client connects (and reconnects, e.g. after a
// broker restart) on demand. Extra client options come last.
func NewProducer(brokers []string, topic string, opts ...kgo.Opt) (*Producer, error) {
	if len(brokers) == 0 || topic == "" {
		return nil, errors.New("producer: brokers and topic are required")
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		// A web request waits for its publish: send at once instead of
		// lingering for a fuller batch (concurrent requests still batch).
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(10 * time.Second),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return &Producer{cl: cl, topic: topic}, nil
}

// Client is the underlying client (to create topics with).
func (p *Producer) Client() *kgo.Client { return p.cl }

// Publish sends r and waits for the broker's acknowledgement.
func (p *Producer) Publish(ctx context.Context, r flightdelay.Request) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	rec := &kgo.Record{Topic: p.topic, Key: []byte(r.UUID), Value: b}
	if err := p.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("publish request %s to %s: %w", r.UUID, p.topic, err)
	}
	return nil
}

// Ping checks a broker answers.
func (p *Producer) Ping(ctx context.Context) error { return p.cl.Ping(ctx) }

// Close flushes nothing (Publish is synchronous) and closes the client.
func (p *Producer) Close() { p.cl.Close() }
