import CZlib
import COpenSSL
