package connector

// DecodeObject decodes one message that must be a JSON object, as a
// stream's record is, into a Record; what it cannot decode comes back as a
// *DecodeError whose reason starts with where, for the quarantine.
func DecodeObject(raw []byte, where string) (Record, *DecodeError) {
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, decodeError(raw, "%s: not valid JSON: %v", where, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, decodeError(raw, "%s: %s, not a JSON object", where, kindOf(v))
	}
	return Record(m), nil
}
