"""sagan: seed 003. (Being written: registers nothing yet.)"""
