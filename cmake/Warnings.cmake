# One place for warning flags (ccache's StandardWarnings.cmake is the model).
function(racehunt_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
    -Wno-sign-conversion -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wnull-dereference)
  if(RACEHUNT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

function(racehunt_c_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow)
  if(RACEHUNT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
