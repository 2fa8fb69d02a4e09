"""histogram_cgan: seed 000 §4.1. (Being written: registers nothing yet.)"""
