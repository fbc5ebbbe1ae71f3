"""Dynamic masking (paper, 5.2): the masker (`masker`: components hidden with probability p, their phrases
dropped), how p varies over a run and between collections (`policy`), the CLIP data collator that masks as it
batches (`collator`), and a PNG preview of masked pairs (`preview`). It reads the component library of
`modeling.separation`."""
