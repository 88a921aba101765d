#pragma once

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.1.0"
#endif
