package flightstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestCheckID(t *testing.T) {
	id := uuid.NewString()
	for _, c := range []struct {
		id string
		ok bool
	}{
		{id, true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"urn:uuid:" + id, false},
		{"{" + id + "}", false},
		{strings.ToUpper(id), false},
		{strings.ReplaceAll(id, "-", ""), false},
		{id[:35] + "g", false},
		{id[:8] + "x" + id[9:], false},
		{"", false},
		{id + " ", false},
	} {
		err := CheckID(c.id)
		if (err == nil) != c.ok || (err != nil && (!errors.Is(err, ErrInvalidID) || !IsPermanent(err))) {
			t.Errorf("CheckID(%q) = %v, want ok=%v", c.id, err, c.ok)
		}
	}
}

func TestIsPermanent(t *testing.T) {
	base := errors.New("value too long for type character varying(36) (SQLSTATE 22001)")
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("connection refused"), false},
		{"deadline", context.DeadlineExceeded, false},
		{"marked", Permanent(base), true},
		{"marked, wrapped", fmt.Errorf("store 3 predictions: %w", Permanent(base)), true},
		{"empty id", fmt.Errorf("x: %w", ErrEmptyID), true},
		{"not issued", fmt.Errorf("request x: %w", ErrNotIssued), true},
		{"answered", fmt.Errorf("request x: %w", ErrAnswered), true},
		{"invalid id", CheckID("urn:uuid:x"), true},
	} {
		if got := IsPermanent(c.err); got != c.want {
			t.Errorf("%s: IsPermanent(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
	if err := Permanent(base); err.Error() != base.Error() || !errors.Is(err, base) {
		t.Errorf("Permanent changes the error: %v", err)
	}
}

func FuzzCheckID(f *testing.F) {
	f.Add(uuid.NewString())
	f.Add("urn:uuid:" + uuid.NewString())
	f.Fuzz(func(t *testing.T, id string) {
		if CheckID(id) != nil {
			return
		}
		// Whatever it accepts is a UUID whose canonical text is itself.
		u, err := uuid.Parse(id)
		if err != nil || u.String() != id {
			t.Fatalf("CheckID accepted %q (parse: %v)", id, err)
		}
	})
}
