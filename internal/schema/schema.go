// Package schema validates iotrace's JSON trace document against the JSON
// Schema published in docs/trace.schema.json (embedded from a copy here,
// which a test keeps identical to the published one).
package schema

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed trace.schema.json
var traceSchema []byte

// TraceSchema returns the schema's text.
func TraceSchema() []byte { return traceSchema }

// ValidateTrace checks a JSON trace document against the schema.
func ValidateTrace(doc []byte) error {
	s, err := jsonschema.UnmarshalJSON(bytes.NewReader(traceSchema))
	if err != nil {
		return fmt.Errorf("the trace schema itself: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("trace.schema.json", s); err != nil {
		return err
	}
	sch, err := c.Compile("trace.schema.json")
	if err != nil {
		return fmt.Errorf("compiling the trace schema: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return sch.Validate(v)
}
