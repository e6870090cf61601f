"""Data of the FX service: `rates.json`, the reference rates conversions use (see
shared.adapters.fx_rates for its format and `paystream fx refresh` for how it is renewed)."""
