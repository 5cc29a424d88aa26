"""Exchange with platforms and the Ministry: the digital envelope and its SM2/SM3/SM4 crypto."""
