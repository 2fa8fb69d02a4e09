"""encdec_gan: seed 000 §3.1. (Being written: registers nothing yet.)"""
