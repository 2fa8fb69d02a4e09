"""pretrained_g_gan: seed 002. (Being written: registers nothing yet.)"""
