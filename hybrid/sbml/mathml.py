"""SBML math (libsbml ASTNode) to Python expression text, for the generated Numba ``rates`` function and the
NumPy initial-state function. Anything not listed here is refused with the construct's name."""

from __future__ import annotations

import math
from collections.abc import Callable

import libsbml

from ..errors import CartsimError
from ..inputs import quote

_UNARY = {
    libsbml.AST_FUNCTION_EXP: "exp", libsbml.AST_FUNCTION_LN: "log", libsbml.AST_FUNCTION_ABS: "abs",
    libsbml.AST_FUNCTION_FLOOR: "floor", libsbml.AST_FUNCTION_CEILING: "ceil", libsbml.AST_FUNCTION_SIN: "sin",
    libsbml.AST_FUNCTION_COS: "cos", libsbml.AST_FUNCTION_TAN: "tan", libsbml.AST_FUNCTION_ARCSIN: "asin",
    libsbml.AST_FUNCTION_ARCCOS: "acos", libsbml.AST_FUNCTION_ARCTAN: "atan", libsbml.AST_FUNCTION_SINH: "sinh",
    libsbml.AST_FUNCTION_COSH: "cosh", libsbml.AST_FUNCTION_TANH: "tanh",
}
_RELATIONAL = {
    libsbml.AST_RELATIONAL_EQ: "==", libsbml.AST_RELATIONAL_NEQ: "!=", libsbml.AST_RELATIONAL_GT: ">",
    libsbml.AST_RELATIONAL_LT: "<", libsbml.AST_RELATIONAL_GEQ: ">=", libsbml.AST_RELATIONAL_LEQ: "<=",
}
_NUMBERS = (libsbml.AST_INTEGER, libsbml.AST_REAL, libsbml.AST_REAL_E, libsbml.AST_RATIONAL)


def has_piecewise(ast: libsbml.ASTNode) -> bool:
    if ast.getType() == libsbml.AST_FUNCTION_PIECEWISE:
        return True
    return any(has_piecewise(ast.getChild(i)) for i in range(ast.getNumChildren()))


def symbols(ast: libsbml.ASTNode) -> set[str]:
    """The SBML ids an expression reads."""
    out = {ast.getName()} if ast.getType() == libsbml.AST_NAME else set()
    for i in range(ast.getNumChildren()):
        out |= symbols(ast.getChild(i))
    return out


def to_python(ast: libsbml.ASTNode, name: Callable[[str], str], where: str, lib: str = "math") -> str:
    """Python text of ``ast``; ``name`` maps an SBML id to a Python name (and refuses an unknown one), ``lib``
    is the module the functions come from (math in jitted code, np for arrays). The text holds only what
    ``name`` returns, numbers formatted here and fixed operators: never text taken from the file."""

    def go(a: libsbml.ASTNode) -> str:
        t = a.getType()
        kids = [a.getChild(i) for i in range(a.getNumChildren())]
        if t in _NUMBERS:
            v = float(a.getValue())
            if not math.isfinite(v):
                raise CartsimError(f"{where}: the number {v} (<infinity/> or <notanumber/>) is not supported in "
                                   "a rate law; give a finite value")
            return repr(v)
        if t == libsbml.AST_NAME:
            return name(a.getName())
        if t == libsbml.AST_NAME_TIME:
            return "t"
        if t == libsbml.AST_CONSTANT_E:
            return f"{lib}.e"
        if t == libsbml.AST_CONSTANT_PI:
            return f"{lib}.pi"
        if t in (libsbml.AST_CONSTANT_TRUE, libsbml.AST_CONSTANT_FALSE):
            return "True" if t == libsbml.AST_CONSTANT_TRUE else "False"
        if t == libsbml.AST_PLUS:
            return "(" + " + ".join(map(go, kids)) + ")" if kids else "0.0"
        if t == libsbml.AST_TIMES:
            return "(" + " * ".join(map(go, kids)) + ")" if kids else "1.0"
        if t == libsbml.AST_MINUS:
            return f"(-{go(kids[0])})" if len(kids) == 1 else f"({go(kids[0])} - {go(kids[1])})"
        if t == libsbml.AST_DIVIDE:
            return f"({go(kids[0])} / {go(kids[1])})"
        if t in (libsbml.AST_POWER, libsbml.AST_FUNCTION_POWER):
            return f"({go(kids[0])} ** {go(kids[1])})"
        if t in _UNARY:
            return f"{lib}.{_UNARY[t]}({go(kids[0])})"
        if t == libsbml.AST_FUNCTION_LOG:  # log(x) is base 10; log(b, x) base b
            if len(kids) == 1:
                return f"{lib}.log10({go(kids[0])})"
            return f"({lib}.log({go(kids[1])}) / {lib}.log({go(kids[0])}))"
        if t == libsbml.AST_FUNCTION_ROOT:
            if len(kids) == 1:
                return f"{lib}.sqrt({go(kids[0])})"
            return f"({go(kids[1])} ** (1.0 / {go(kids[0])}))"
        if t in _RELATIONAL and len(kids) == 2:
            return f"({go(kids[0])} {_RELATIONAL[t]} {go(kids[1])})"
        if t in (libsbml.AST_LOGICAL_AND, libsbml.AST_LOGICAL_OR):
            op = " and " if t == libsbml.AST_LOGICAL_AND else " or "
            return "(" + op.join(map(go, kids)) + ")"
        if t == libsbml.AST_LOGICAL_NOT:
            return f"(not {go(kids[0])})"
        if t == libsbml.AST_FUNCTION_PIECEWISE:
            if lib != "math":
                raise CartsimError(f"{where}: piecewise in an initial assignment is not supported")
            out = go(kids[-1]) if len(kids) % 2 == 1 else "0.0"
            for k in range(len(kids) // 2 - 1, -1, -1):
                out = f"({go(kids[2 * k])} if {go(kids[2 * k + 1])} else {out})"
            return out
        what = a.getName() or libsbml.formulaToL3String(a)
        raise CartsimError(f"{where}: the SBML math construct {quote(what)} is not supported")

    return go(ast)


def additive_terms(ast: libsbml.ASTNode, sign: float = 1.0) -> list[tuple[float, libsbml.ASTNode]]:
    """The signed terms of a sum/difference (nested plus, minus and unary minus are flattened)."""
    t = ast.getType()
    kids = [ast.getChild(i) for i in range(ast.getNumChildren())]
    if t == libsbml.AST_PLUS:
        return [term for k in kids for term in additive_terms(k, sign)]
    if t == libsbml.AST_MINUS and len(kids) == 2:
        return additive_terms(kids[0], sign) + additive_terms(kids[1], -sign)
    if t == libsbml.AST_MINUS and len(kids) == 1:
        return additive_terms(kids[0], -sign)
    return [(sign, ast)]
