"""perceptual_cnn: seed 004. (Being written: registers nothing yet.)"""
