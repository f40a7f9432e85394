"""Editing semantic maps, deriving masks, blending generated pixels into the original, and the manipulation pipeline."""
