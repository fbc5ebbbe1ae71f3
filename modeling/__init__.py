"""Dynamic masking (paper, section 5): component separation, the component library, the masking collator."""
