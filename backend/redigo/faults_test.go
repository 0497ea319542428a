package redigo_test

import (
	"testing"

	"github.com/redlock-go/redlock/conformance/faults"
)

// TestFaults runs the fault campaigns and Kleppmann's scenarios; add
// -faults.long for the long campaign.
func TestFaults(t *testing.T) {
	faults.Run(t, harness{})
}
