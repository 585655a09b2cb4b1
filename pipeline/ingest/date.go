package ingest

import "time"

// Date is a calendar day, stored as the number of days since 1970-01-01 —
// exactly the Parquet DATE type, so it carries no time zone. (It is also a
// workaround: parquet-go v0.32.0's generic writer stores a time.Time field
// tagged `date` as truncated nanoseconds instead of days.)
type Date int32

// DateOf is the calendar day of t in t's own location.
func DateOf(t time.Time) Date {
	u := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return Date(u.Unix() / 86400)
}

// NewDate is the day y-m-d (normalised like time.Date).
func NewDate(y int, m time.Month, d int) Date {
	return DateOf(time.Date(y, m, d, 0, 0, 0, 0, time.UTC))
}

// Time is midnight UTC at the start of the day.
func (d Date) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// String formats the day as YYYY-MM-DD.
func (d Date) String() string { return d.Time().Format(time.DateOnly) }

// MarshalText formats the day as YYYY-MM-DD (for JSON and logs).
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses YYYY-MM-DD.
func (d *Date) UnmarshalText(b []byte) error {
	t, err := time.Parse(time.DateOnly, string(b))
	if err != nil {
		return err
	}
	*d = DateOf(t)
	return nil
}
